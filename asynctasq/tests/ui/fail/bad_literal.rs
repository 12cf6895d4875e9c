use asynctasq::task;

#[task(queue = emails)]
async fn a() {}

#[task(max_attempts = 0)]
async fn b() {}

#[task(priority = 40000)]
async fn c() {}

#[task(max_attempts = "3")]
async fn d() {}

#[task(queue = "a", queue = "b")]
async fn e() {}

fn main() {}
