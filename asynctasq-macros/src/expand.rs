//! The code `#[task]` generates. See the `task` macro's documentation for
//! the shape of the expansion.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, ReturnType};

use crate::checks::{self, TaskArg};
use crate::options::{RetryKind, TaskOptions};

/// Expands `#[task(attr)] item`. Errors become `compile_error!`s at the
/// offending tokens, followed by the item unchanged so that the rest of the
/// crate (and rust-analyzer) still sees the function.
pub(crate) fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "#[task] goes on a function: `async fn name(arguments) -> Result<T, E> { ... }`",
            );
            return with_item(error, item);
        }
    };
    let options = TaskOptions::parse(attr);
    let args = checks::arguments(&function);
    match (options, args) {
        (Ok(options), Ok(args)) => generate(&function, &options, &args),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            with_item(a, item)
        }
        (Err(e), _) | (_, Err(e)) => with_item(e, item),
    }
}

fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#error #item)
}

/// Where the function's attributes go.
struct Attrs<'a> {
    /// `#[cfg]`: on every generated item.
    cfg: Vec<&'a Attribute>,
    /// Docs and `#[deprecated]`: on the builder, which is what callers see.
    builder: Vec<&'a Attribute>,
    /// Lint levels: on the body, and as `allow` on the builder (the same
    /// parameters appear there; an `expect` there could go unfulfilled).
    lints: Vec<&'a Attribute>,
    /// Everything else (`#[tracing::instrument]`, ...): on the body.
    body: Vec<&'a Attribute>,
}

impl<'a> Attrs<'a> {
    fn sort(attrs: &'a [Attribute]) -> Self {
        let mut sorted = Attrs {
            cfg: Vec::new(),
            builder: Vec::new(),
            lints: Vec::new(),
            body: Vec::new(),
        };
        for attr in attrs {
            let path = attr.path();
            if path.is_ident("cfg") {
                sorted.cfg.push(attr);
            } else if path.is_ident("doc") || path.is_ident("deprecated") {
                sorted.builder.push(attr);
            } else if checks::is_lint(attr) {
                sorted.lints.push(attr);
            } else {
                sorted.body.push(attr);
            }
        }
        sorted
    }

    /// The lint attributes as `#[allow(...)]`.
    fn lints_as_allow(&self) -> TokenStream {
        self.lints
            .iter()
            .filter_map(|attr| {
                let list = attr.meta.require_list().ok()?;
                let lints = &list.tokens;
                let pound = attr.pound_token;
                Some(quote!(#pound[allow(#lints)]))
            })
            .collect()
    }
}

fn generate(function: &ItemFn, options: &TaskOptions, args: &[TaskArg]) -> TokenStream {
    let sig = &function.sig;
    let vis = &function.vis;
    let ident = &sig.ident;
    let attrs = Attrs::sort(&function.attrs);
    let cfg = &attrs.cfg;
    let builder_attrs = &attrs.builder;
    let builder_lints = attrs.lints_as_allow();
    let body_lints = &attrs.lints;
    let body_attrs = &attrs.body;
    let fn_name = ident.unraw().to_string();
    let task_name = options.name.clone().unwrap_or_else(|| fn_name.clone());

    let p = quote!(::asynctasq::__private);
    let fields: Vec<_> = args.iter().map(|a| &a.ident).collect();
    let keys: Vec<_> = args.iter().map(|a| &a.key).collect();
    let types: Vec<_> = args.iter().map(|a| &a.ty).collect();
    let output_ty = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let output = &sig.output;
    let asyncness = &sig.asyncness;
    let dot_await = asyncness.map(|_| quote!(.await));

    // The arguments' struct.
    let struct_doc = if ident.to_string().starts_with("r#") {
        format!(" Arguments of the `{fn_name}` task: what a job carries in its payload.")
    } else {
        format!(
            " Arguments of the [`{fn_name}`](fn@{ident}) task: what a job carries in its payload."
        )
    };
    let field_docs = keys.iter().map(|key| format!(" The `{key}` argument."));
    let args_struct = quote! {
        #(#cfg)*
        #[doc = #struct_doc]
        ///
        /// Calling the function of the same name builds one inside a
        /// [`PendingDispatch`](asynctasq::PendingDispatch); `run()` runs the
        /// task's body directly, without a queue.
        #[allow(non_camel_case_types)]
        #vis struct #ident {
            #(
                #[doc = #field_docs]
                #vis #fields: #types,
            )*
        }
    };

    // The builder keeps the function's name, docs and parameters.
    let builder_params = args.iter().map(|a| {
        let (ident, ty) = (&a.ident, &a.ty);
        quote!(#ident: #ty)
    });
    let builder = quote! {
        #(#cfg)*
        #(#builder_attrs)*
        #builder_lints
        #[allow(dead_code)] // a task is reachable through the worker's registry
        #[allow(clippy::too_many_arguments)] // it mirrors the task's own signature
        #vis fn #ident(#(#builder_params),*) -> #p::PendingDispatch<#ident> {
            #p::PendingDispatch::new(#ident { #(#fields),* })
        }
    };

    // The original body, as an associated function of the struct: associated
    // functions are not in scope by their bare name, so the body's own calls
    // of `name(...)` still reach the builder (a task can dispatch itself).
    let body_params = args.iter().map(|a| {
        let (attrs, pat, ty) = (&a.attrs, &a.pat, &a.ty);
        quote!(#(#attrs)* #pat: #ty)
    });
    let block = &function.block;
    let body_fn = quote! {
        #[doc(hidden)]
        #(#body_lints)*
        #(#body_attrs)*
        #asyncness fn #ident(#(#body_params),*) #output #block
    };
    let run_doc = if asyncness.is_some() {
        " Runs the task's body right here, without a queue: no retries, no timeout. Handy in tests."
    } else {
        " Runs the task's body right here, on the calling thread, without a queue: no retries, no timeout. Handy in tests."
    };
    let run = quote! {
        #[doc = #run_doc]
        #[allow(dead_code)]
        #vis #asyncness fn run(self) -> #output_ty {
            Self::#ident(#(self.#fields),*) #dot_await
        }
    };

    // Each argument's codec, chosen once, where its type is checked.
    let codecs: Vec<Codec> = args.iter().enumerate().map(codec).collect();
    let codec_fns = codecs.iter().map(|c| &c.function);
    let encodes = args.iter().zip(&codecs).map(|(a, c)| {
        let (key, field, name) = (&a.key, &a.ident, &c.name);
        quote!((#name().encode)(#key, &self.#field))
    });
    let model_checks = args.iter().zip(&codecs).map(|(a, c)| {
        let (key, name) = (&a.key, &c.name);
        quote!(if #name().fetches_model { names.push(#key); })
    });
    let model_arguments = quote! {
        fn __asynctasq_model_arguments() -> ::std::vec::Vec<&'static str> {
            #[allow(unused_mut)]
            let mut names = ::std::vec::Vec::new();
            #( #model_checks )*
            names
        }
    };
    let task_options = task_options(options);
    let task_impl = quote! {
        impl #p::Task for #ident {
            const NAME: &'static str = #task_name;

            fn options() -> #p::TaskOptions {
                #task_options
            }

            fn encode_args(&self) -> #p::Result<#p::rmpv::Value> {
                ::core::result::Result::Ok(#p::args_map(::std::vec![
                    #( (#keys, #encodes?), )*
                ]))
            }
        }
    };

    let debug_impl = quote! {
        impl ::core::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#fn_name).finish_non_exhaustive()
            }
        }
    };

    let handler = handler(
        function,
        args,
        &codecs,
        &output_ty,
        options.skip_missing.unwrap_or(false),
    );
    let location =
        quote_spanned!(ident.span()=> ::core::concat!(::core::file!(), ":", ::core::line!()));

    quote! {
        #args_struct

        #builder

        #(#cfg)*
        const _: () = {
            #[allow(unused_imports)]
            use ::asynctasq::__private::{
                ModelArg as _, OptionModelArg as _, SerdeArg as _, VecModelArg as _,
            };

            #( #codec_fns )*

            #model_arguments

            impl #ident {
                #run

                #body_fn
            }

            #debug_impl

            #task_impl

            #handler

            #p::inventory::submit! {
                #p::TaskRegistration {
                    name: #task_name,
                    location: #location,
                    handler: __asynctasq_handler,
                    model_arguments: __asynctasq_model_arguments,
                }
            }
        };
    }
}

/// The function that returns one argument's codec:
/// `(&&::asynctasq::__private::Arg::<T>::new()).codec()`, spanned at the
/// argument's type. The call resolves, by autoref specialization, to the
/// model reference codecs for sea-orm models (and `Option`/`Vec` of them) or
/// to the serde codec for anything else; a type that is neither is reported
/// there, once. Encoding, decoding and the worker's models-database check
/// all use this one choice.
fn codec((index, arg): (usize, &TaskArg)) -> Codec {
    let p = quote!(::asynctasq::__private);
    let ty = &arg.ty;
    let (first, last) = first_last(ty.to_token_stream(), ty.span());
    let open = quote_spanned!(first=> &&::asynctasq::__private::Arg::<);
    let close = quote_spanned!(last=> >::new());
    let call = quote_spanned!(first=> .codec());
    let name = quote::format_ident!("__asynctasq_codec{index}");
    Codec {
        function: quote! {
            fn #name() -> #p::Codec<#ty> {
                (#open #ty #close) #call
            }
        },
        name,
    }
}

/// The function returning one argument's codec, and its name.
struct Codec {
    function: TokenStream,
    name: syn::Ident,
}

/// The first and last spans of some tokens: a generated expression that
/// starts at the first and ends at the last is reported over all of them.
fn first_last(tokens: TokenStream, fallback: Span) -> (Span, Span) {
    let mut spans = tokens.into_iter().map(|t| t.span());
    let first = spans.next().unwrap_or(fallback);
    (first, spans.last().unwrap_or(first))
}

fn task_options(options: &TaskOptions) -> TokenStream {
    let p = quote!(::asynctasq::__private);
    let queue = options.queue.as_deref().unwrap_or("default");
    let max_attempts = options.max_attempts.unwrap_or(3);
    let delay = options.retry_delay.unwrap_or(1000);
    let retry = match options.retry.unwrap_or(RetryKind::Exponential) {
        RetryKind::Fixed => quote!(fixed),
        RetryKind::Exponential => quote!(exponential),
    };
    let timeout = match options.timeout {
        Some(ms) => quote!(::core::option::Option::Some(#p::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let priority = options.priority.unwrap_or(0);
    quote! {
        #p::TaskOptions {
            queue: #queue,
            max_attempts: #max_attempts,
            retry: #p::RetryPolicy::#retry(#p::Duration::from_millis(#delay)),
            timeout: #timeout,
            priority: #priority,
        }
    }
}

/// The function the worker calls: decode each argument (a payload that does
/// not decode never will, so that failure is permanent), run the body, and
/// turn its return value into the attempt's outcome.
fn handler(
    function: &ItemFn,
    args: &[TaskArg],
    codecs: &[Codec],
    output_ty: &TokenStream,
    skip_missing: bool,
) -> TokenStream {
    let p = quote!(::asynctasq::__private);
    let sig = &function.sig;
    let ident = &sig.ident;
    let ctx = quote!(__asynctasq_ctx);
    // With no arguments the context goes unused.
    let ctx_param = if args.is_empty() {
        quote!(_)
    } else {
        ctx.clone()
    };
    let locals: Vec<_> = (0..args.len())
        .map(|i| quote::format_ident!("__asynctasq_arg{i}"))
        .collect();
    let decodes = args.iter().zip(codecs).map(|(a, c)| {
        let (key, name) = (&a.key, &c.name);
        quote!((#name().decode)(&#ctx, #key))
    });
    // Every argument is decoded concurrently: model arguments are fetched
    // from the database in parallel.
    let on_missing = if skip_missing {
        quote! {
            if let #p::ArgError::ModelNotFound { .. } = &error {
                #p::skipped_missing_model(&#ctx, &error);
                return ::core::result::Result::Ok(());
            }
        }
    } else {
        quote!()
    };
    let decode = if args.is_empty() {
        quote!()
    } else {
        quote! {
            let (#(#locals,)*) = match #p::futures::try_join!(
                #( #decodes ),*
            ) {
                ::core::result::Result::Ok(values) => values,
                ::core::result::Result::Err(error) => {
                    #on_missing
                    return ::core::result::Result::Err(error.into_failure());
                }
            };
        }
    };

    // `<Ret as IntoTaskResult>::into_task_result`, spanned at the return type.
    let (ret_first, ret_last) = match &sig.output {
        ReturnType::Default => (ident.span(), ident.span()),
        ReturnType::Type(_, ty) => first_last(ty.to_token_stream(), ty.span()),
    };
    let into_open = quote_spanned!(ret_first=> <);
    let into_close = quote_spanned!(ret_last=> as #p::IntoTaskResult>::into_task_result);

    let run = if let Some(asyncness) = &sig.asyncness {
        // `check_future_is_send(&future)`, with `&future` spanning the
        // signature: a future that is not `Send` is reported over
        // `async fn name(...) -> T`. Passing a reference keeps the check the
        // only place that reports it.
        let end = match &sig.output {
            ReturnType::Default => sig.paren_token.span.close(),
            ReturnType::Type(_, ty) => first_last(ty.to_token_stream(), ty.span()).1,
        };
        let and = quote_spanned!(asyncness.span=> &);
        let future = quote_spanned!(end=> __asynctasq_future);
        quote! {
            let __asynctasq_future = #ident::#ident(#(#locals),*);
            #p::check_future_is_send(#and #future);
            #into_open #output_ty #into_close(__asynctasq_future.await)
        }
    } else {
        let (first, last) = first_last(output_ty.clone(), ident.span());
        let open = quote_spanned!(first=> #p::run_blocking);
        let close = quote_spanned!(last=> (move || #ident::#ident(#(#locals),*)));
        quote! {
            match #open #close.await {
                ::core::result::Result::Ok(value) => #into_open #output_ty #into_close(value),
                ::core::result::Result::Err(failure) => ::core::result::Result::Err(failure),
            }
        }
    };

    quote! {
        fn __asynctasq_handler(#ctx_param: #p::JobContext) -> #p::HandlerFuture {
            #p::Box::pin(async move {
                #decode
                #run
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(attr: TokenStream, item: TokenStream) -> syn::File {
        syn::parse2(task(attr, item)).expect("the expansion is valid Rust")
    }

    fn names(file: &syn::File) -> Vec<String> {
        file.items
            .iter()
            .map(|item| match item {
                syn::Item::Struct(s) => format!("struct {}", s.ident),
                syn::Item::Fn(f) => format!("fn {}", f.sig.ident),
                syn::Item::Const(c) => format!("const {}", c.ident),
                syn::Item::Macro(m) => format!("macro {}", m.mac.path.to_token_stream()),
                other => other.to_token_stream().to_string(),
            })
            .collect()
    }

    #[test]
    fn expands_to_struct_builder_and_hidden_impls() {
        let file = expand(
            quote!(queue = "emails"),
            quote!(
                /// Docs.
                pub async fn send(to: String) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert_eq!(names(&file), ["struct send", "fn send", "const _"]);
        let text = file.to_token_stream().to_string();
        assert!(text.contains("queue : \"emails\""), "{text}");
        assert!(text.contains("check_future_is_send"), "{text}");
    }

    #[test]
    fn a_sync_function_runs_on_the_blocking_pool() {
        let file = expand(
            quote!(),
            quote!(
                fn resize(width: u32) {}
            ),
        );
        let text = file.to_token_stream().to_string();
        assert!(text.contains("run_blocking"), "{text}");
        assert!(!text.contains("check_future_is_send"), "{text}");
    }

    #[test]
    fn cfg_applies_to_every_item() {
        let file = expand(
            quote!(),
            quote!(
                #[cfg(test)]
                async fn t() {}
            ),
        );
        for item in &file.items {
            let text = item.to_token_stream().to_string();
            assert!(text.starts_with("# [cfg (test)]"), "{text}");
        }
    }

    #[test]
    fn errors_keep_the_item() {
        let file = expand(
            quote!(queue = 1),
            quote!(
                async fn send(to: &str) {}
            ),
        );
        assert_eq!(
            names(&file),
            [
                "macro :: core :: compile_error",
                "macro :: core :: compile_error",
                "fn send"
            ]
        );
    }
}
