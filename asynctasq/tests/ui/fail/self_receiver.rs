use asynctasq::task;

struct Mailer;

impl Mailer {
    #[task]
    async fn send(&self, to: String) {
        println!("{to}");
    }
}

fn main() {}
