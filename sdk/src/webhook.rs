//! Webhooks: what a `webhook-connector` plugin needs to take a vendor's
//! notifications. The host hands each request POSTed to
//! `/hooks/{tenant}/{plugin}` to [`Webhook::handle`](crate::Webhook::handle),
//! which checks it and returns records; the host stores them before it answers
//! the vendor and delivers them through the tenant's flows.
//!
//! Signatures are checked by the host with [`verify_hmac_sha256`]: the plugin
//! names a tenant secret it declared and never sees its value. Return
//! [`Error::denied`] when a signature does not hold (the vendor gets `401`),
//! [`Error::permanent`] for a request that can never be accepted (`400`).

use crate::Error;
use crate::bindings::webhook::tenon::connector::verify;

pub use crate::bindings::webhook::exports::tenon::connector::webhook_api::WebhookRequest;

/// Whether `signature` is the HMAC-SHA256 of `message` keyed with the tenant
/// secret named `secret`, computed and compared (in constant time) by the host.
/// An error (`denied`) if the tenant has not set that secret.
pub fn verify_hmac_sha256(secret: &str, message: &[u8], signature: &[u8]) -> Result<bool, Error> {
    verify::hmac_sha256_verify(secret, message, signature)
}

/// The value of header `name` (any case), if the request has it.
pub fn header<'a>(request: &'a WebhookRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks a hex HMAC-SHA256 signature in header `name`, written `<prefix><hex>`
/// (`X-Shop-Signature: sha256=<hex>` is `prefix` `"sha256="`), over the body,
/// with the tenant secret named `secret`. `denied` if the header is missing,
/// malformed or does not match.
pub fn require_hmac_signature(
    request: &WebhookRequest,
    name: &str,
    prefix: &str,
    secret: &str,
) -> Result<(), Error> {
    let value = header(request, name)
        .ok_or_else(|| Error::denied(format!("the request has no `{name}` header")))?;
    let signature = value
        .strip_prefix(prefix)
        .and_then(decode_hex)
        .ok_or_else(|| Error::denied(format!("header `{name}` is not `{prefix}<hex>`")))?;
    if verify_hmac_sha256(secret, &request.body, &signature)? {
        Ok(())
    } else {
        Err(Error::denied(format!(
            "the signature in `{name}` does not match the body"
        )))
    }
}

/// Bytes from hex digits (either case); `None` unless an even number of them.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_pairs_and_refuses_the_rest() {
        assert_eq!(decode_hex("00ffA1"), Some(vec![0, 255, 161]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex(""), Some(vec![]));
    }

    #[test]
    fn headers_match_in_any_case() {
        let request = WebhookRequest {
            method: "POST".into(),
            path: "/hooks/acme/shop".into(),
            headers: vec![("x-shop-signature".into(), "sha256=00".into())],
            body: Vec::new(),
        };
        assert_eq!(header(&request, "X-Shop-Signature"), Some("sha256=00"));
        assert_eq!(header(&request, "X-Other"), None);
        let missing = require_hmac_signature(&request, "X-Other", "sha256=", "webhook_secret");
        assert!(matches!(missing, Err(Error::Denied(_))));
    }
}
