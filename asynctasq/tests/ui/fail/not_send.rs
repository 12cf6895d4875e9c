use std::rc::Rc;

use asynctasq::task;

async fn save(_: &str) {}

#[task]
async fn remember(key: String) -> Result<(), String> {
    let shared = Rc::new(key);
    save(&shared).await;
    drop(shared);
    Ok(())
}

fn main() {}
