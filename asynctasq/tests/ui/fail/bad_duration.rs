use asynctasq::task;

#[task(retry_delay = "2 sex")]
async fn send(to: String) {
    println!("{to}");
}

#[task(timeout = 30)]
async fn fetch(url: String) {
    println!("{url}");
}

#[task(timeout = "0s")]
async fn never(url: String) {
    println!("{url}");
}

fn main() {}
