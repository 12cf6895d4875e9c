use asynctasq::task;

#[task]
async fn store<T: serde::Serialize>(value: T) {
    drop(value);
}

#[task]
async fn with_impl(value: impl std::fmt::Display) {
    println!("{value}");
}

fn main() {}
