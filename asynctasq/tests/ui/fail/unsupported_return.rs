use asynctasq::task;

#[task]
async fn count(items: Vec<String>) -> u32 {
    items.len() as u32
}

#[task]
fn parse(text: String) -> Option<u32> {
    text.parse().ok()
}

fn main() {}
