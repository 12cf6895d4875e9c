use asynctasq::task;

#[task(retry = "linear")]
async fn send(to: String) {
    println!("{to}");
}

fn main() {}
