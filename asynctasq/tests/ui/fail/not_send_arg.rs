use std::marker::PhantomData;

use asynctasq::task;
use serde::{Deserialize, Serialize};

/// Serializable, but tied to the thread that made it.
#[derive(Serialize, Deserialize)]
struct LocalHandle {
    id: u64,
    #[serde(skip)]
    thread_bound: PhantomData<*const ()>,
}

#[task]
async fn close(handle: LocalHandle) {
    println!("{}", handle.id);
}

fn main() {}
