//! Tenant secrets as a call holds them: each value with the hosts the operator
//! bound it to, and the scheme the plugin declared for it. `http` applies them
//! and `verify` computes with them; the guest never reads one. What `http`
//! applied is removed from the answer before the guest sees it ([`Redactor`]).

use super::grant::Grant;
use crate::descriptor::{Descriptor, SecretScheme};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The shortest secret value accepted, in bytes: every appearance of a secret
/// in an answer is removed before the guest sees it, which needs the value to
/// be distinctive.
pub const MIN_SECRET_BYTES: usize = 8;

/// A tenant secret: its value, and where it may go.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub value: String,
    /// The hosts (and ports) the host may send it to. None: never sent (a
    /// secret only for verifying webhook signatures).
    #[serde(default)]
    pub hosts: Vec<Grant>,
    /// Whether it may go over plain `http` to a host that is not a loopback
    /// address; by default only `https`.
    #[serde(default)]
    pub allow_http: bool,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"<redacted>")
            .field("hosts", &self.hosts)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl Secret {
    /// A value bound to `hosts`.
    pub fn for_hosts(value: impl Into<String>, hosts: Vec<Grant>) -> Secret {
        Secret {
            value: value.into(),
            hosts,
            allow_http: false,
        }
    }

    /// Whether the host may send it to `host:port`.
    pub fn bound_to(&self, host: &str, port: u16) -> bool {
        self.hosts.iter().any(|g| g.allows(host, port))
    }
}

/// The call's input: the tenant's secrets for the plugin, and how the plugin
/// declared each.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, Secret>,
    declared: BTreeMap<String, SecretScheme>,
}

impl Secrets {
    /// The tenant's `values` for a plugin that declares `descriptor`'s secrets.
    pub fn new(values: BTreeMap<String, Secret>, descriptor: &Descriptor) -> Secrets {
        Secrets {
            values,
            declared: descriptor
                .secrets
                .iter()
                .map(|s| (s.name.clone(), s.scheme.clone()))
                .collect(),
        }
    }

    /// The value the tenant set for `name`.
    pub fn value(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }

    /// How the plugin declared `name`, if it did.
    pub fn declared(&self, name: &str) -> Option<&SecretScheme> {
        self.declared.get(name)
    }
}

/// Removes from answers every form of what was sent: the secret raw, in
/// base64 (standard and URL-safe, padded or not), percent- and form-encoded and
/// JSON-escaped, and the whole header value it went in (`Basic dXNlcjpw...`).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<Vec<u8>>,
}

/// What a removed secret is replaced with.
pub const REDACTED: &str = "[redacted by tenon]";

impl Redactor {
    /// Adds `secret` and `header_value` (the value of the header it went in).
    pub fn add(&mut self, secret: &str, header_value: &str) {
        let b64 = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let mut forms = vec![
            secret.to_owned(),
            header_value.to_owned(),
            percent(secret, false),
            percent(secret, true),
            lowercase_hex(&percent(secret, false)),
            json_escaped(secret),
        ];
        forms.extend(b64.iter().map(|engine| engine.encode(secret)));
        // The part after `Basic `: base64 of `user:secret`.
        if let Some((_, encoded)) = header_value.split_once(' ') {
            forms.push(encoded.to_owned());
        }
        for form in forms {
            if form.len() >= MIN_SECRET_BYTES && !self.needles.iter().any(|n| n == form.as_bytes())
            {
                self.needles.push(form.into_bytes());
            }
        }
        // Longest first, so that a form containing another is removed whole.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `bytes` with every form removed.
    pub fn redact(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut bytes = bytes;
        for needle in &self.needles {
            let finder = memchr::memmem::Finder::new(needle);
            if finder.find(&bytes).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut at = 0;
            for found in finder.find_iter(&bytes) {
                if found < at {
                    continue;
                }
                out.extend_from_slice(&bytes[at..found]);
                out.extend_from_slice(REDACTED.as_bytes());
                at = found + needle.len();
            }
            out.extend_from_slice(&bytes[at..]);
            bytes = out;
        }
        bytes
    }

    /// `text` with every form removed.
    pub fn redact_text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.redact(text.as_bytes().to_vec())).into_owned()
    }
}

/// Percent-encoding of every byte but unreserved ones; `form` writes a space as
/// `+` (`application/x-www-form-urlencoded`).
fn percent(value: &str, form: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A percent-encoding with lowercase hex digits.
fn lowercase_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut digits = 0;
    for c in encoded.chars() {
        if digits > 0 {
            out.push(c.to_ascii_lowercase());
            digits -= 1;
        } else {
            out.push(c);
            if c == '%' {
                digits = 2;
            }
        }
    }
    out
}

/// `value` as it appears inside a JSON string (serde's escaping, and `\/`).
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string serialises");
    quoted[1..quoted.len() - 1].replace('/', "\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_an_applied_secret_is_removed() {
        let secret = "s3cr/t+tok en";
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("user:{secret}"))
        );
        let mut redactor = Redactor::default();
        redactor.add(secret, &basic);
        let echo = format!(
            r#"{{"raw":"{secret}","json":{},"b64":"{}","url":"{}","form":"{}","auth":"{basic}"}}"#,
            serde_json::to_string(secret).unwrap(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            percent(secret, false),
            percent(secret, true),
        );
        let clean = redactor.redact_text(&echo);
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(!clean.contains(&basic[6..]), "{clean}");
        assert_eq!(clean.matches(REDACTED).count(), 6, "{clean}");
        assert_eq!(redactor.redact_text("nothing here"), "nothing here");
    }

    #[test]
    fn a_secret_is_sent_only_to_its_hosts() {
        let secret = Secret::for_hosts("token-123456", vec!["api.example.com".parse().unwrap()]);
        assert!(secret.bound_to("api.example.com", 443));
        assert!(!secret.bound_to("evil.example.com", 443));
        assert!(!format!("{secret:?}").contains("token"));
    }
}
