//! The `#[task]` attribute of asynctasq (placeholder).
use proc_macro::TokenStream;

/// Declares a task (placeholder).
#[proc_macro_attribute]
pub fn task(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
