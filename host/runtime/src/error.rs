//! The error a guest returns and the host returns to a guest, by case: the
//! `error` variant of `tenon:connector`, whichever version. Texts a guest wrote are
//! cut to [`MAX_ERROR_BYTES`] on the way in, so a guest cannot make the host
//! log or store megabytes of it.

use serde::{Deserialize, Serialize};

/// The longest error text kept from a guest, in bytes; the rest is cut and marked.
pub const MAX_ERROR_BYTES: usize = 4096;

/// An error a guest returned, or that the host returns to a guest, by case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GuestError {
    #[error("retryable: {message}")]
    Retryable { message: String },
    #[error("rate limited, retry after {after_ms} ms: {message}")]
    RateLimited { after_ms: u64, message: String },
    #[error("permanent: {message}")]
    Permanent { message: String },
    #[error("denied: {message}")]
    Denied { message: String },
}

impl GuestError {
    /// The same error with its text cut to [`MAX_ERROR_BYTES`].
    pub fn bounded(self) -> GuestError {
        let cut = |m: String| cut(m, MAX_ERROR_BYTES);
        match self {
            GuestError::Retryable { message } => GuestError::Retryable {
                message: cut(message),
            },
            GuestError::RateLimited { after_ms, message } => GuestError::RateLimited {
                after_ms,
                message: cut(message),
            },
            GuestError::Permanent { message } => GuestError::Permanent {
                message: cut(message),
            },
            GuestError::Denied { message } => GuestError::Denied {
                message: cut(message),
            },
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary, marked with how
/// much was cut.
pub fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &text[..end], text.len() - end)
}

/// A URL as error texts quote it: without its query string and fragment, which
/// can carry tokens, customer data or whole filters (`…` marks what was left
/// out).
pub fn without_query(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(at) => format!("{}?…", &url[..at]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_leave_out_their_query() {
        assert_eq!(
            without_query("http://shop/api/orders?token=s3cret&limit=5"),
            "http://shop/api/orders?…"
        );
        assert_eq!(without_query("http://shop/a#frag"), "http://shop/a?…");
        assert_eq!(without_query("http://shop/a"), "http://shop/a");
    }

    #[test]
    fn long_texts_are_cut_on_a_char_boundary() {
        let long = "é".repeat(3000);
        let cut = cut(long.clone(), MAX_ERROR_BYTES);
        assert!(cut.len() < long.len());
        assert!(cut.ends_with("bytes cut]"), "{cut}");
        let bounded = GuestError::Permanent {
            message: "x".repeat(5 << 20),
        }
        .bounded();
        assert!(bounded.to_string().len() < MAX_ERROR_BYTES + 100);
    }
}
