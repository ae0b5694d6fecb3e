//! `tenon:connector/verify`: HMAC-SHA256 with a tenant secret, computed by the
//! host. A plugin that checks webhook signatures names the secret; its value never
//! enters the guest, as with the credentials of [`super::http`]. A 0.2.0 plugin
//! may verify only with secrets it declared with the `hmac` scheme, so a token it
//! sends to a vendor cannot serve as a signing key too.

use super::Capability;
use super::secret::Secrets;
use crate::bindings::{v0_1, v0_2};
use crate::call::{CallContext, CallState, States};
use crate::descriptor::{SecretScheme, World};
use crate::error::GuestError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-call state: the tenant's secrets for this plugin.
#[derive(Debug)]
pub struct GuestVerify {
    tenant: Arc<str>,
    plugin: Arc<str>,
    secrets: Option<Arc<Secrets>>,
}

/// Whether `signature` is the HMAC-SHA256 of `message` under `key`, compared in
/// constant time.
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.verify_slice(signature).is_ok()
}

/// The HMAC-SHA256 of `message` under `key`: what a vendor sends, for the
/// sandboxes and tests.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl GuestVerify {
    /// `legacy`: the request came through `tenon:connector@0.1.0`, whose
    /// secrets have no scheme.
    fn verify(
        &self,
        secret: &str,
        message: &[u8],
        signature: &[u8],
        legacy: bool,
    ) -> Result<bool, GuestError> {
        let not_set = || GuestError::Denied {
            message: format!(
                "tenant `{}` has set no secret `{secret}` for plugin `{}`",
                self.tenant, self.plugin
            ),
        };
        let secrets = self.secrets.as_ref().ok_or_else(not_set)?;
        match secrets.declared(secret) {
            Some(SecretScheme::Hmac) => {}
            Some(SecretScheme::Legacy) if legacy => {}
            Some(_) => {
                return Err(GuestError::Denied {
                    message: format!(
                        "secret `{secret}` is not declared with the `hmac` scheme, so it cannot verify signatures"
                    ),
                });
            }
            None => {
                return Err(GuestError::Denied {
                    message: format!(
                        "plugin `{}` does not declare secret `{secret}`",
                        self.plugin
                    ),
                });
            }
        }
        let key = secrets.value(secret).ok_or_else(not_set)?;
        Ok(hmac_sha256_verify(key.value.as_bytes(), message, signature))
    }
}

impl v0_2::verify::Host for GuestVerify {
    fn hmac_sha256_verify(
        &mut self,
        secret: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, v0_2::types::Error> {
        self.verify(&secret, &message, &signature, false)
            .map_err(Into::into)
    }
}

impl v0_1::verify::Host for GuestVerify {
    fn hmac_sha256_verify(
        &mut self,
        secret: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, v0_1::types::Error> {
        self.verify(&secret, &message, &signature, true)
            .map_err(Into::into)
    }
}

struct HasVerify;

impl HasData for HasVerify {
    type Data<'a> = &'a mut GuestVerify;
}

/// The `verify` capability.
#[derive(Debug)]
pub struct Verify;

impl Capability for Verify {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, world: World) -> anyhow::Result<()> {
        if world == World::Connector {
            v0_2::verify::add_to_linker::<CallState, HasVerify>(
                linker,
                CallState::get::<GuestVerify>,
            )?;
            v0_1::verify::add_to_linker::<CallState, HasVerify>(
                linker,
                CallState::get::<GuestVerify>,
            )?;
        }
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        states.insert(GuestVerify {
            tenant: call.tenant.clone(),
            plugin: call.plugin.clone(),
            secrets: call.input::<Secrets>(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_sha256_verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &mac
        ));
        assert!(!hmac_sha256_verify(
            b"Jeff",
            b"what do ya want for nothing?",
            &mac
        ));
    }
}

#[cfg(test)]
mod scheme_tests {
    use super::*;
    use crate::capability::grant::Grant;
    use crate::capability::secret::Secret;
    use crate::descriptor::{Descriptor, Kind, SecretInfo};
    use std::collections::BTreeMap;

    #[test]
    fn only_hmac_secrets_verify_for_a_0_2_0_plugin() {
        let secret = |name: &str, scheme| SecretInfo {
            name: name.into(),
            description: String::new(),
            scheme,
            required: false,
        };
        let descriptor = Descriptor {
            name: "p".into(),
            version: "0.2.0".into(),
            kind: Kind::Other,
            description: String::new(),
            streams: vec![],
            egress: vec![],
            config: vec![],
            secrets: vec![
                secret("signing", SecretScheme::Hmac),
                secret("api_token", SecretScheme::Bearer),
            ],
        };
        let host: Grant = "api.example.com".parse().unwrap();
        let values = BTreeMap::from([
            (
                "signing".to_owned(),
                Secret::for_hosts("signing-key-1", vec![]),
            ),
            (
                "api_token".to_owned(),
                Secret::for_hosts("token-123456", vec![host]),
            ),
        ]);
        let verify = GuestVerify {
            tenant: Arc::from("acme"),
            plugin: Arc::from("p"),
            secrets: Some(Arc::new(Secrets::new(values, &descriptor))),
        };
        let mac = hmac_sha256(b"signing-key-1", b"body");
        assert_eq!(verify.verify("signing", b"body", &mac, false), Ok(true));
        let refused = verify
            .verify("api_token", b"body", &mac, false)
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("not declared with the `hmac` scheme"),
            "{refused}"
        );
    }
}
