//! `tenon:connector/verify`: HMAC-SHA256 with a tenant secret, computed by the
//! host. A plugin that checks webhook signatures names the secret; its value never
//! enters the guest, as with the credentials of [`super::http`].

use crate::bindings::types::Error as WitError;
use crate::bindings::wit_verify;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Per-call state: the tenant's secrets for this plugin.
#[derive(Clone, Default)]
pub struct GuestVerify {
    tenant: String,
    plugin: String,
    secrets: Arc<BTreeMap<String, String>>,
}

impl std::fmt::Debug for GuestVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestVerify")
            .field("tenant", &self.tenant)
            .field("plugin", &self.plugin)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl GuestVerify {
    pub fn new(tenant: &str, plugin: &str, secrets: Arc<BTreeMap<String, String>>) -> Self {
        GuestVerify {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            secrets,
        }
    }
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

impl wit_verify::Host for GuestVerify {
    fn hmac_sha256_verify(
        &mut self,
        secret: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, WitError> {
        let Some(key) = self.secrets.get(&secret) else {
            return Err(WitError::Denied(format!(
                "tenant `{}` has set no secret `{secret}` for plugin `{}`",
                self.tenant, self.plugin
            )));
        };
        Ok(hmac_sha256_verify(key.as_bytes(), &message, &signature))
    }
}

struct HasVerify;

impl HasData for HasVerify {
    type Data<'a> = &'a mut GuestVerify;
}

/// Adds `tenon:connector/verify` to `linker`, served by the [`GuestVerify`] that
/// `get` finds in the store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut GuestVerify,
) -> wasmtime::Result<()> {
    wit_verify::add_to_linker::<T, HasVerify>(linker, get)
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
