use asynctasq::task;

#[task(queue = "emails", retries = 5)]
async fn send(to: String) {
    println!("{to}");
}

fn main() {}
