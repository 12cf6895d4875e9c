//! Parsing `#[task(...)]` options.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitInt, LitStr, UnOp};

const OPTIONS: &str =
    "`queue`, `name`, `max_attempts`, `retry`, `retry_delay`, `timeout`, `priority`, `missing`";

/// The backoff shape named by `retry = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryKind {
    Fixed,
    Exponential,
}

/// The options of one `#[task(...)]`, validated. `None` means "not given".
#[derive(Debug, Default)]
pub(crate) struct TaskOptions {
    pub(crate) queue: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) retry: Option<RetryKind>,
    /// In whole milliseconds.
    pub(crate) retry_delay: Option<u64>,
    /// In whole milliseconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) priority: Option<i16>,
    /// `missing = "skip"`: a model argument whose row is gone completes the
    /// job silently instead of failing it.
    pub(crate) skip_missing: Option<bool>,
}

impl TaskOptions {
    /// Parses the tokens between the parentheses of `#[task(...)]`.
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut options = TaskOptions::default();
        let parser = syn::meta::parser(|meta| options.parse_one(&meta));
        parser.parse2(attr)?;
        Ok(options)
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
            return Err(meta.error(format!("unknown #[task] option; expected one of {OPTIONS}")));
        };
        let duplicate = match key.as_str() {
            "queue" => self.queue.is_some(),
            "name" => self.name.is_some(),
            "max_attempts" => self.max_attempts.is_some(),
            "retry" => self.retry.is_some(),
            "retry_delay" => self.retry_delay.is_some(),
            "timeout" => self.timeout.is_some(),
            "priority" => self.priority.is_some(),
            "missing" => self.skip_missing.is_some(),
            _ => {
                return Err(meta.error(format!(
                    "unknown #[task] option `{key}`; expected one of {OPTIONS}"
                )));
            }
        };
        if duplicate {
            return Err(meta.error(format!("the #[task] option `{key}` is given twice")));
        }
        let value: Expr = meta.value()?.parse()?;
        match key.as_str() {
            "queue" => self.queue = Some(non_empty(string(&value, &key, "\"emails\"")?)?),
            "name" => self.name = Some(non_empty(string(&value, &key, "\"send_email\"")?)?),
            "max_attempts" => {
                let attempts = integer::<u32>(&value, &key, "5", "a `u32`")?;
                if attempts == 0 {
                    return Err(syn::Error::new_spanned(
                        &value,
                        "`max_attempts` must be at least 1 (it counts the first attempt)",
                    ));
                }
                self.max_attempts = Some(attempts);
            }
            "retry" => {
                let lit = string(&value, &key, "\"exponential\"")?;
                self.retry = Some(match lit.value().as_str() {
                    "fixed" => RetryKind::Fixed,
                    "exponential" => RetryKind::Exponential,
                    other => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!(
                                "unknown retry kind `{other}`; expected \"fixed\" or \"exponential\""
                            ),
                        ));
                    }
                });
            }
            "retry_delay" => self.retry_delay = Some(duration(&value, &key)?),
            "timeout" => {
                let millis = duration(&value, &key)?;
                if millis == 0 {
                    return Err(syn::Error::new_spanned(
                        &value,
                        "`timeout` must be longer than zero; leave it out for no timeout",
                    ));
                }
                self.timeout = Some(millis);
            }
            "priority" => {
                self.priority = Some(integer::<i16>(&value, &key, "5", "an `i16`")?);
            }
            "missing" => {
                let lit = string(&value, &key, "\"skip\"")?;
                self.skip_missing = Some(match lit.value().as_str() {
                    "skip" => true,
                    "fail" => false,
                    other => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!(
                                "unknown `missing` policy `{other}`; expected \"fail\" or \"skip\""
                            ),
                        ));
                    }
                });
            }
            _ => unreachable!("unknown options are rejected above"),
        }
        Ok(())
    }
}

/// A string literal, or an error that shows the expected form.
fn string(value: &Expr, key: &str, example: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit.clone()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` expects a string literal, like `{key} = {example}`"),
        )),
    }
}

fn non_empty(lit: LitStr) -> syn::Result<String> {
    let value = lit.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(lit.span(), "this must not be empty"));
    }
    Ok(value)
}

/// An integer literal, possibly negated, that fits in `N`.
fn integer<N>(value: &Expr, key: &str, example: &str, ty: &str) -> syn::Result<N>
where
    N: std::str::FromStr,
    N::Err: std::fmt::Display,
{
    let expected = || {
        syn::Error::new_spanned(
            value,
            format!("`{key}` expects an integer literal, like `{key} = {example}`"),
        )
    };
    let (negative, lit): (bool, &LitInt) = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return Err(expected()),
        },
        _ => return Err(expected()),
    };
    let suffix = lit.suffix();
    if !suffix.is_empty() && !ty.contains(&format!("`{suffix}`")) {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` is {ty}, not a `{suffix}`"),
        ));
    }
    let digits = if negative {
        format!("-{}", lit.base10_digits())
    } else {
        lit.base10_digits().to_string()
    };
    digits.parse::<N>().map_err(|_| {
        syn::Error::new_spanned(
            value,
            format!("`{key}` is {ty}, and `{digits}` does not fit in one"),
        )
    })
}

/// A humantime duration string, in whole milliseconds.
fn duration(value: &Expr, key: &str) -> syn::Result<u64> {
    let lit = string(value, key, "\"30s\"")?;
    let text = lit.value();
    let parsed: Duration = humantime::parse_duration(&text).map_err(|e| {
        syn::Error::new(
            lit.span(),
            format!(
                "`{key}` is not a valid duration: {e}; write it like \"500ms\", \"30s\" or \"1h 30m\""
            ),
        )
    })?;
    whole_millis(parsed, lit.span(), key)
}

fn whole_millis(d: Duration, span: Span, key: &str) -> syn::Result<u64> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(syn::Error::new(
            span,
            format!("`{key}` must be a whole number of milliseconds"),
        ));
    }
    u64::try_from(d.as_millis()).map_err(|_| syn::Error::new(span, format!("`{key}` is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> syn::Result<TaskOptions> {
        TaskOptions::parse(tokens)
    }

    fn error(tokens: TokenStream) -> String {
        parse(tokens).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_option() {
        let o = parse(quote!(
            queue = "emails",
            name = "welcome",
            max_attempts = 5,
            retry = "fixed",
            retry_delay = "1m 30s",
            timeout = "250ms",
            priority = -3,
        ))
        .unwrap();
        assert_eq!(o.queue.as_deref(), Some("emails"));
        assert_eq!(o.name.as_deref(), Some("welcome"));
        assert_eq!(o.max_attempts, Some(5));
        assert_eq!(o.retry, Some(RetryKind::Fixed));
        assert_eq!(o.retry_delay, Some(90_000));
        assert_eq!(o.timeout, Some(250));
        assert_eq!(o.priority, Some(-3));
    }

    #[test]
    fn empty_means_defaults() {
        let o = parse(TokenStream::new()).unwrap();
        assert!(o.queue.is_none() && o.retry.is_none() && o.timeout.is_none());
    }

    #[test]
    fn rejects_bad_options() {
        assert!(error(quote!(queu = "x")).contains("unknown #[task] option `queu`"));
        assert!(error(quote!(queue = 3)).contains("expects a string literal"));
        assert!(error(quote!(queue = "")).contains("must not be empty"));
        assert!(error(quote!(queue = "a", queue = "b")).contains("given twice"));
        assert!(error(quote!(max_attempts = 0)).contains("at least 1"));
        assert!(error(quote!(max_attempts = "3")).contains("integer literal"));
        assert!(error(quote!(max_attempts = 3u8)).contains("is a `u32`, not a `u8`"));
        assert!(error(quote!(priority = 40000)).contains("does not fit"));
        assert!(error(quote!(retry = "linear")).contains("unknown retry kind `linear`"));
        assert!(error(quote!(retry_delay = "2 sex")).contains("not a valid duration"));
        assert!(error(quote!(timeout = "0s")).contains("longer than zero"));
        assert!(error(quote!(timeout = "1500us")).contains("whole number of milliseconds"));
        assert!(error(quote!(queue)).contains("expected `=`"));
    }
}
