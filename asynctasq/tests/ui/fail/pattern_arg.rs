use asynctasq::task;

#[task]
async fn resize((width, height): (u32, u32)) {
    println!("{width}x{height}");
}

#[task]
async fn ignore(_: u32) {}

fn main() {}
