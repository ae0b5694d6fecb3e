//! OAuth 2 access tokens for tenant credentials, for vendors whose tokens expire
//! (Akeneo's last an hour).
//!
//! A tenant secret is normally the credential itself. Its value may instead be a
//! token grant, a JSON object `{"oauth2": {...}}` (see [`TokenGrant`]): when a
//! plugin asks for that secret with the `bearer` scheme, as it would for any
//! token, the host runs the grant against the vendor's token endpoint, keeps the
//! access token until shortly before it expires, and sends it as
//! `Authorization: Bearer`. The plugin sees neither the password nor the token;
//! the tenant's secrets stay the only place they live. The grant request is
//! egress like any other: its host must be granted, and it counts against the
//! call's request limit.
//!
//! Tokens are cached per tenant, plugin and grant, in memory only: a restarted
//! host asks again. A `401` on a request made with a cached token drops it, and
//! the host asks for a new one and sends the request once more.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long before it expires a token is given up for a fresh one: a request
/// must not start with a token that expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// The lifetime assumed when the token endpoint does not say (`expires_in`).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A token grant, the value of a tenant secret:
///
/// ```json
/// {"oauth2": {"token_url": "https://pim.example.com/api/oauth/v1/token",
///             "grant_type": "password", "client_id": "...", "client_secret": "...",
///             "username": "...", "password": "..."}}
/// ```
///
/// `grant_type` is `password` (RFC 6749 4.3, Akeneo's) or `client_credentials`
/// (4.4, without `username` and `password`); `scope` is optional. The client
/// authenticates with HTTP Basic; the grant goes as a form body, as the RFC
/// says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    pub token_url: String,
    pub grant_type: GrantType,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    Password,
    ClientCredentials,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapper {
    oauth2: TokenGrant,
}

impl TokenGrant {
    /// The grant in a secret's value: `None` when the value is a plain
    /// credential (anything but a JSON object with the key `oauth2`), an error
    /// saying what is wrong when it is a grant that does not hold.
    pub fn from_secret(value: &str) -> Option<Result<TokenGrant, String>> {
        let json: serde_json::Value = serde_json::from_str(value.trim()).ok()?;
        json.get("oauth2")?;
        Some(
            serde_json::from_value::<Wrapper>(json)
                .map_err(|e| e.to_string())
                .and_then(|w| w.oauth2.validated())
                .map_err(|e| format!("an OAuth 2 grant, but {e}")),
        )
    }

    fn validated(self) -> Result<TokenGrant, String> {
        let url = reqwest::Url::parse(&self.token_url)
            .map_err(|e| format!("token_url `{}`: {e}", self.token_url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "token_url `{}` is not http or https",
                self.token_url
            ));
        }
        let user = self.username.is_some() && self.password.is_some();
        match self.grant_type {
            GrantType::Password if !user => {
                Err("the password grant needs `username` and `password`".into())
            }
            GrantType::ClientCredentials if self.username.is_some() || self.password.is_some() => {
                Err("the client_credentials grant takes no `username` or `password`".into())
            }
            _ => Ok(self),
        }
    }

    /// The form body of the token request.
    pub fn form(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![(
            "grant_type",
            match self.grant_type {
                GrantType::Password => "password",
                GrantType::ClientCredentials => "client_credentials",
            },
        )];
        if let (Some(username), Some(password)) = (&self.username, &self.password) {
            form.push(("username", username));
            form.push(("password", password));
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        form
    }
}

/// The answer of a token endpoint: the fields used.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Access tokens the host holds, shared by every call of a [`crate::sandbox::Sandbox`].
#[derive(Debug, Default)]
pub struct Tokens {
    cache: Mutex<HashMap<String, Held>>,
}

#[derive(Debug)]
struct Held {
    token: String,
    /// When to stop using it: its expiry less the margin.
    until: Instant,
}

impl Tokens {
    /// The cache key of a grant for a tenant and plugin: a digest, so that the
    /// secret's value is not kept in a second place.
    pub fn key(tenant: &str, plugin: &str, secret_value: &str) -> String {
        let digest = Sha256::new()
            .chain_update(tenant.as_bytes())
            .chain_update([0])
            .chain_update(plugin.as_bytes())
            .chain_update([0])
            .chain_update(secret_value.as_bytes())
            .finalize();
        crate::record::hex(&digest)
    }

    /// The held token for `key`, if it is not about to expire.
    pub fn get(&self, key: &str) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|held| Instant::now() < held.until)
            .map(|held| held.token.clone())
    }

    /// Holds `answer`'s token for `key` until shortly before it expires.
    pub fn put(&self, key: &str, answer: &TokenAnswer) {
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        // A token that lives less than twice the margin is used for half its life.
        let margin = EXPIRY_MARGIN.min(lifetime / 2);
        let held = Held {
            token: answer.access_token.clone(),
            until: Instant::now() + lifetime - margin,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), held);
    }

    /// Drops the token for `key` (the vendor refused it).
    pub fn forget(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_are_not_grants_and_bad_grants_say_why() {
        assert_eq!(TokenGrant::from_secret("s3cr3t"), None);
        assert_eq!(TokenGrant::from_secret(r#"{"token": "x"}"#), None);
        let grant = TokenGrant::from_secret(
            r#"{"oauth2": {"token_url": "http://127.0.0.1:9/api/oauth/v1/token",
                "grant_type": "password", "client_id": "c", "client_secret": "s",
                "username": "u", "password": "p"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            grant.form(),
            [
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "p")
            ]
        );
        let no_user = TokenGrant::from_secret(
            r#"{"oauth2": {"token_url": "https://x/t", "grant_type": "password",
                "client_id": "c", "client_secret": "s"}}"#,
        )
        .unwrap()
        .unwrap_err();
        assert!(no_user.contains("username"), "{no_user}");
        let typo = TokenGrant::from_secret(
            r#"{"oauth2": {"token_url": "https://x/t", "grant_type": "password",
                "client_id": "c", "client_secret": "s", "user": "u"}}"#,
        )
        .unwrap()
        .unwrap_err();
        assert!(typo.contains("unknown field `user`"), "{typo}");
        let ftp = TokenGrant::from_secret(
            r#"{"oauth2": {"token_url": "ftp://x/t", "grant_type": "client_credentials",
                "client_id": "c", "client_secret": "s"}}"#,
        )
        .unwrap()
        .unwrap_err();
        assert!(ftp.contains("not http or https"), "{ftp}");
    }

    #[test]
    fn tokens_are_held_until_shortly_before_they_expire() {
        let tokens = Tokens::default();
        let key = Tokens::key("acme", "pim-akeneo", "{...}");
        assert_ne!(key, Tokens::key("globex", "pim-akeneo", "{...}"));
        tokens.put(
            &key,
            &TokenAnswer {
                access_token: "t1".into(),
                expires_in: Some(3600),
            },
        );
        assert_eq!(tokens.get(&key).as_deref(), Some("t1"));
        tokens.forget(&key);
        assert_eq!(tokens.get(&key), None);
        // Expires in 0 s: never used.
        tokens.put(
            &key,
            &TokenAnswer {
                access_token: "t2".into(),
                expires_in: Some(0),
            },
        );
        assert_eq!(tokens.get(&key), None);
    }
}
