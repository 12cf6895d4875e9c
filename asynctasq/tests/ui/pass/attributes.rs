//! Attributes on a task function go where they make sense, a task can
//! dispatch itself, and tasks can be declared inside a function.
#![deny(warnings)]

use asynctasq::Task;
use asynctasq::prelude::*;

/// Docs and `#[deprecated]` land on the builder; `#[tracing::instrument]` on the body.
#[task]
#[tracing::instrument(skip(payload))]
#[allow(clippy::too_many_arguments)]
async fn traced(id: u64, payload: Vec<u8>) -> Result<(), std::io::Error> {
    tracing::info!(len = payload.len(), "processing");
    if id > 0 {
        // The bare name is the builder, even inside the body.
        let _next: PendingDispatch<traced> = traced(id - 1, payload);
    }
    Ok(())
}

/// `#[deprecated]` warns callers of the builder, not the generated code.
#[deprecated = "use `traced`"]
#[task]
async fn legacy(id: u64) -> Result<(), String> {
    Err(format!("{id} is gone"))
}

/// `#[cfg]` after `#[task]` applies to everything generated.
#[task]
#[cfg(any())]
async fn compiled_out(x: NotEvenAType) {}

/// Raw identifiers travel without `r#`.
#[task(name = "kw")]
fn r#match(r#type: String) -> Result<String, String> {
    Ok(r#type)
}

#[tokio::main]
async fn main() {
    traced(1, vec![1, 2]).into_task().run().await.unwrap();
    assert_eq!(r#match("x".into()).into_task().run(), Ok("x".to_string()));
    assert_eq!(<r#match as Task>::NAME, "kw");

    #[task(queue = "local")]
    async fn local(n: i32) -> Result<i32, String> {
        Ok(n)
    }
    assert_eq!(local(3).into_task().run().await, Ok(3));
    assert_eq!(local::options().queue, "local");
    assert_eq!(<legacy as Task>::NAME, "legacy");
}
