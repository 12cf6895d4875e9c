//! What a `#[task]` function may look like, checked before any code is
//! generated. Every problem becomes an error at the offending tokens; all of
//! them are reported at once.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, Type};

/// One argument of a task function.
pub(crate) struct TaskArg {
    /// The binding as written (it may be `mut`).
    pub(crate) pat: syn::PatIdent,
    /// The name, used for the struct field and the builder's parameter.
    pub(crate) ident: Ident,
    /// The key in the payload's argument map (the name without `r#`).
    pub(crate) key: String,
    /// The declared type.
    pub(crate) ty: Type,
    /// Lint attributes on the parameter (kept on the body's parameter).
    pub(crate) attrs: Vec<Attribute>,
}

/// Checks the signature and returns the arguments.
pub(crate) fn arguments(item: &ItemFn) -> syn::Result<Vec<TaskArg>> {
    let mut errors = Errors::default();
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.push(constness, "a #[task] function cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(
            unsafety,
            "a #[task] function cannot be `unsafe`: the worker calls it with payload data; \
             make it safe and use `unsafe` blocks inside",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi, "a #[task] function cannot have an `extern` ABI");
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(variadic, "a #[task] function cannot be variadic");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(
            &sig.generics,
            "a #[task] function cannot be generic: the worker decodes its arguments from the \
             payload, so their types must be concrete",
        );
    }

    let mut args: Vec<TaskArg> = Vec::new();
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(
                    receiver,
                    "a #[task] function cannot take `self`: declare it as a free function and \
                     pass what it needs as arguments",
                );
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let mut ok = true;
        for attr in &typed.attrs {
            if !is_lint(attr) {
                errors.push(
                    attr,
                    "only lint attributes (`allow`, `expect`, ...) are supported on #[task] arguments",
                );
                ok = false;
            }
        }
        if let Some(message) = borrowed(&typed.ty) {
            errors.push(&typed.ty, message);
            ok = false;
        }
        let pat = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.clone(),
            Pat::Wild(_) => {
                errors.push(
                    &typed.pat,
                    "a #[task] argument needs a name: the name is its key in the job's payload",
                );
                continue;
            }
            other => {
                errors.push(
                    other,
                    "a #[task] argument must be a plain name: it is the argument's key in the \
                     job's payload; bind a name and destructure it in the body",
                );
                continue;
            }
        };
        let key = pat.ident.unraw().to_string();
        if let Some(first) = args.iter().find(|a| a.key == key) {
            errors.push(
                &pat.ident,
                format!("the argument `{}` is declared twice", first.key),
            );
            continue;
        }
        if ok {
            args.push(TaskArg {
                ident: pat.ident.clone(),
                key,
                pat,
                ty: (*typed.ty).clone(),
                attrs: typed.attrs.clone(),
            });
        }
    }
    errors.finish()?;
    Ok(args)
}

/// Why a type cannot travel in a payload, judged from its tokens: a
/// reference or a lifetime borrows, `impl Trait` is not a type the worker
/// can decode into.
fn borrowed(ty: &Type) -> Option<String> {
    if let Type::Reference(reference) = ty {
        let owned = match &*reference.elem {
            Type::Path(path) if path.path.is_ident("str") => "String".to_string(),
            Type::Slice(slice) => format!("Vec<{}>", pretty(&slice.elem)),
            elem => pretty(elem),
        };
        return Some(format!(
            "#[task] arguments must be owned: they are decoded from the job's payload, so \
             nothing can be borrowed; take `{owned}` instead"
        ));
    }
    scan(ty.to_token_stream())
}

/// A type as a person would write it (`Vec<u8>`, not `Vec < u8 >`).
fn pretty(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    [
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ::", "::"),
        (":: ", "::"),
        (" ,", ","),
    ]
    .iter()
    .fold(text, |text, (from, to)| text.replace(from, to))
}

fn scan(tokens: TokenStream) -> Option<String> {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Group(group) => {
                if let Some(message) = scan(group.stream()) {
                    return Some(message);
                }
            }
            TokenTree::Ident(ident) if ident == "impl" => {
                return Some(
                    "a #[task] argument cannot be `impl Trait`: the worker decodes arguments \
                     into concrete types"
                        .into(),
                );
            }
            TokenTree::Punct(punct) if punct.as_char() == '&' => {
                return Some(
                    "#[task] arguments must be owned: they are decoded from the job's payload, \
                     so nothing can be borrowed"
                        .into(),
                );
            }
            TokenTree::Punct(punct) if punct.as_char() == '\'' => {
                let lifetime = tokens.next();
                if !matches!(&lifetime, Some(TokenTree::Ident(i)) if i == "static") {
                    return Some(
                        "#[task] arguments must be owned: they are decoded from the job's \
                         payload, so they cannot hold a lifetime other than `'static`"
                            .into(),
                    );
                }
            }
            _ => {}
        }
    }
    None
}

/// `allow`, `expect`, `warn`, `deny`, `forbid`.
pub(crate) fn is_lint(attr: &Attribute) -> bool {
    ["allow", "expect", "warn", "deny", "forbid"]
        .iter()
        .any(|lint| attr.path().is_ident(lint))
}

/// Errors collected into one.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        let error = syn::Error::new_spanned(tokens, message);
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(item: TokenStream) -> Result<Vec<TaskArg>, String> {
        arguments(&syn::parse2(item).unwrap()).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn accepts_owned_named_arguments() {
        let args = check(quote::quote!(
            async fn t(a: String, mut b: Vec<u8>, r#type: Option<Cow<'static, str>>) {}
        ))
        .unwrap();
        let keys: Vec<_> = args.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "type"]);
        assert!(args[1].pat.mutability.is_some());
    }

    #[test]
    fn rejects_what_cannot_be_a_task() {
        let cases = [
            (
                quote::quote!(
                    async fn t(&self) {}
                ),
                "cannot take `self`",
            ),
            (
                quote::quote!(
                    async fn t<T>(x: T) {}
                ),
                "cannot be generic",
            ),
            (
                quote::quote!(
                    async fn t<'a>() {}
                ),
                "cannot be generic",
            ),
            (
                quote::quote!(
                    async fn t(x: &str) {}
                ),
                "take `String` instead",
            ),
            (
                quote::quote!(
                    async fn t(x: &[u8]) {}
                ),
                "take `Vec<u8>` instead",
            ),
            (
                quote::quote!(
                    async fn t(x: &Vec<Option<u8>>) {}
                ),
                "take `Vec<Option<u8>>` instead",
            ),
            (
                quote::quote!(
                    async fn t(x: Cow<'a, str>) {}
                ),
                "lifetime",
            ),
            (
                quote::quote!(
                    async fn t(x: Option<&u8>) {}
                ),
                "must be owned",
            ),
            (
                quote::quote!(
                    async fn t(x: impl Display) {}
                ),
                "`impl Trait`",
            ),
            (
                quote::quote!(
                    async fn t((a, b): (u8, u8)) {}
                ),
                "plain name",
            ),
            (
                quote::quote!(
                    async fn t(_: u8) {}
                ),
                "needs a name",
            ),
            (
                quote::quote!(
                    async fn t(ref a: u8) {}
                ),
                "plain name",
            ),
            (
                quote::quote!(
                    async fn t(a: u8, a: u8) {}
                ),
                "declared twice",
            ),
            (
                quote::quote!(
                    async unsafe fn t() {}
                ),
                "`unsafe`",
            ),
            (
                quote::quote!(
                    const fn t() {}
                ),
                "`const`",
            ),
            (
                quote::quote!(
                    extern "C" fn t() {}
                ),
                "`extern`",
            ),
            (
                quote::quote!(
                    fn t(#[cfg(x)] a: u8) {}
                ),
                "lint attributes",
            ),
        ];
        for (item, expected) in cases {
            let error = check(item.clone()).err().expect("an error");
            assert!(error.contains(expected), "{item}: {error}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let error = check(quote::quote!(
            async fn t<T>(self, x: &str) {}
        ))
        .err()
        .expect("an error");
        assert_eq!(error.lines().count(), 3, "{error}");
    }
}
