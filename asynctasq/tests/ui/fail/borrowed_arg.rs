use asynctasq::task;

#[task]
async fn greet(name: &str) {
    println!("{name}");
}

#[task]
async fn sum(values: &[u64]) {
    println!("{}", values.iter().sum::<u64>());
}

#[task]
async fn shout<'a>(text: std::borrow::Cow<'a, str>) {
    println!("{text}!");
}

#[task]
async fn maybe(name: Option<&'static str>) {
    println!("{name:?}");
}

fn main() {}
