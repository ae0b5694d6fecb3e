//! Who is calling the admin API: bearer tokens from the serve configuration,
//! checked in constant time, turned into a [`Principal`] that handlers ask what
//! it may see and do. Owns the 401 and 403 answers; knows nothing of the
//! operations themselves.
//!
//! A tenant token asking for another tenant's resources is answered 404, as if
//! they did not exist: it learns nothing of other tenants, not even their names.
//! What it may never do (install or remove plugins, create tenants) is 403.

use crate::server::config::{Role, TokenConfig};
use crate::server::http::{Refused, error};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
#[cfg(test)]
use axum::response::IntoResponse as _;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The tokens the API accepts, each kept as the SHA-256 of its secret.
#[derive(Clone, Default)]
pub struct Tokens {
    known: Arc<Vec<(Principal, [u8; 32])>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.known.iter().map(|(p, _)| &p.name))
            .finish()
    }
}

impl Tokens {
    /// From the configuration's tokens and their secrets.
    pub fn new(tokens: Vec<(TokenConfig, String)>) -> Tokens {
        let known = tokens
            .into_iter()
            .map(|(token, secret)| {
                let tenant = match token.role {
                    Role::Operator => None,
                    Role::Tenant => token.tenant,
                };
                (
                    Principal {
                        name: token.name,
                        tenant,
                    },
                    digest(&secret),
                )
            })
            .collect();
        Tokens {
            known: Arc::new(known),
        }
    }

    /// The principal whose secret `presented` is. Every known token is compared,
    /// over fixed-length digests, so the time taken does not say how much matched.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let presented = digest(presented);
        let mut found = None;
        for (principal, known) in self.known.iter() {
            if same(known, &presented) {
                found = Some(principal.clone());
            }
        }
        found
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal digests, comparing every byte whatever differs.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An authenticated caller of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name: the actor in the audit log.
    pub name: String,
    /// The tenant a tenant token acts for; `None` for an operator.
    pub tenant: Option<String>,
}

impl Principal {
    /// May this caller see and act on `tenant`? A tenant token asking for
    /// another tenant gets the 404 an unknown tenant gets.
    pub fn reach(&self, tenant: &str) -> Result<(), Refused> {
        match &self.tenant {
            Some(own) if own != tenant => Err(error(
                StatusCode::NOT_FOUND,
                format!("tenant `{tenant}` not found"),
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// Only operators may do this: 403 for a tenant token.
    pub fn operator(&self, what: &str) -> Result<(), Refused> {
        match &self.tenant {
            Some(_) => Err(error(
                StatusCode::FORBIDDEN,
                format!("a tenant token may not {what}: it needs an operator token"),
            )
            .into()),
            None => Ok(()),
        }
    }

    /// The tenant a listing is limited to: the asked one (if reachable), or for a
    /// tenant token its own.
    pub fn scope(&self, asked: Option<String>) -> Result<Option<String>, Refused> {
        match (asked, &self.tenant) {
            (Some(asked), _) => {
                self.reach(&asked)?;
                Ok(Some(asked))
            }
            (None, own) => Ok(own.clone()),
        }
    }
}

/// Middleware: requests without a known bearer token are answered 401; others
/// carry their [`Principal`] to the handlers.
pub async fn require_token(
    State(tokens): State<Tokens>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented.and_then(|p| tokens.authenticate(p)) {
        Some(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        None => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required (Authorization: Bearer <token>)",
            );
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, tenant: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            role: if tenant.is_some() {
                Role::Tenant
            } else {
                Role::Operator
            },
            tenant: tenant.map(Into::into),
            secret: None,
            secret_file: None,
        }
    }

    #[test]
    fn a_secret_names_its_token_and_nothing_else_does() {
        let tokens = Tokens::new(vec![
            (token("ops", None), "operator-secret-0123".into()),
            (token("acme", Some("acme")), "acme-secret-0123456".into()),
        ]);
        let ops = tokens.authenticate("operator-secret-0123").unwrap();
        assert_eq!((ops.name.as_str(), ops.tenant.as_deref()), ("ops", None));
        let acme = tokens.authenticate("acme-secret-0123456").unwrap();
        assert_eq!(acme.tenant.as_deref(), Some("acme"));
        for wrong in ["", "operator-secret-012", "operator-secret-01234", "acme"] {
            assert!(tokens.authenticate(wrong).is_none(), "{wrong}");
        }
        assert!(acme.reach("acme").is_ok());
        assert_eq!(
            acme.reach("globex").unwrap_err().into_response().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            acme.operator("install plugins")
                .unwrap_err()
                .into_response()
                .status(),
            StatusCode::FORBIDDEN
        );
        assert!(ops.reach("globex").is_ok() && ops.operator("x").is_ok());
        assert_eq!(acme.scope(None).unwrap().as_deref(), Some("acme"));
        assert_eq!(ops.scope(None).unwrap(), None);
    }
}
