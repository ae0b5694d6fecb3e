//! Who may publish plugins, and whose each plugin name is.
//!
//! An operator trusts publishers by their ed25519 public keys (`tenon trust
//! add|list|remove`). A component signed by a trusted key installs; the first
//! install of a name binds the name to that publisher, and from then on only a
//! component signed by the same key may install under it. An unsigned
//! component installs only with `--allow-unsigned`, and never under a name a
//! publisher owns. Within a name, a version's bytes never change (the same
//! version with other bytes is refused) and an older version than the current
//! one needs `--allow-downgrade`. The bundled plugins are signed by the key the
//! binary carries ([`crate::bundled::BUNDLE_KEY`]), trusted for them only.
//!
//! Signatures are made and read by `tenon-sign` (`sdk/sign`); storage is
//! [`crate::state`]'s.

use crate::error::{Error, Result};
use crate::host::{Tenon, now_ms};
use crate::plugin::Installed;
use serde::{Deserialize, Serialize};
use tenon_sign::PublicKey;

/// A trusted publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    /// The operator's name for it.
    pub name: String,
    /// The key's id (16 hex digits).
    pub id: String,
    /// The key, `tenon-ed25519:<base64>`.
    pub key: String,
    /// Unix time in milliseconds.
    pub added_at: u64,
}

/// Whose a plugin name is: the key id of the publisher that first installed
/// it, or none for a name installed unsigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameOwner {
    pub plugin: String,
    pub publisher: Option<String>,
    /// Unix time in milliseconds.
    pub bound_at: u64,
}

/// What an install sets, and how it may bend the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Limits for every tenant, unless a tenant's enablement overrides them.
    pub limits: crate::limits::LimitOverrides,
    /// Install a component no key signed (never under a publisher's name).
    pub allow_unsigned: bool,
    /// Install a version older than the current one, making it current.
    pub allow_downgrade: bool,
}

/// Who signed a component, as the install checks found it.
#[derive(Debug, Clone)]
pub(crate) struct Provenance {
    /// The signing key's id, if signed.
    pub publisher: Option<String>,
    /// The SHA-256 of the component without its signature: its code.
    pub digest: String,
}

impl Tenon {
    /// Trusts `key` (`tenon-ed25519:<base64>`) as publisher `name`; audited.
    pub fn trust(&self, name: &str, key: &str, actor: &str) -> Result<Publisher> {
        if !crate::plugin::is_identifier(name) {
            return Err(Error::Invalid(format!(
                "publisher name `{name}` must be 1-64 lowercase letters, digits or dashes, starting with a letter"
            )));
        }
        let key = PublicKey::from_text(key).map_err(|e| Error::Invalid(e.to_string()))?;
        let publishers = self.state()?.publishers()?;
        if let Some(same) = publishers.iter().find(|p| p.id == key.id()) {
            return Err(Error::Invalid(format!(
                "key {} is trusted already, as publisher `{}`",
                same.id, same.name
            )));
        }
        if publishers.iter().any(|p| p.name == name) {
            return Err(Error::Invalid(format!(
                "publisher `{name}` exists already; remove it first to change its key"
            )));
        }
        let publisher = Publisher {
            name: name.to_owned(),
            id: key.id(),
            key: key.to_text(),
            added_at: now_ms(),
        };
        self.state()?.put_publisher(&publisher)?;
        self.audit(
            actor,
            "trust.add",
            format!("publisher/{name}"),
            serde_json::json!({ "before": null, "after": publisher }),
        )?;
        Ok(publisher)
    }

    /// Trusted publishers.
    pub fn publishers(&self) -> Result<Vec<Publisher>> {
        Ok(self.state()?.publishers()?)
    }

    /// Stops trusting publisher `name`: components it signs no longer install.
    /// Its installed plugins stay installed and keep their names; audited.
    pub fn distrust(&self, name: &str, actor: &str) -> Result<Publisher> {
        let publisher = self
            .state()?
            .publishers()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::not_found("publisher", name))?;
        self.state()?.remove_publisher(&publisher.id)?;
        self.audit(
            actor,
            "trust.remove",
            format!("publisher/{name}"),
            serde_json::json!({ "before": publisher, "after": null }),
        )?;
        Ok(publisher)
    }

    /// Who signed `wasm`, if anyone, and whether that may install: a signature
    /// must verify and be of a trusted key (or of `bundle`, for the bundled
    /// plugins); no signature needs `allow_unsigned`.
    pub(crate) fn provenance(
        &self,
        wasm: &[u8],
        options: &InstallOptions,
        bundle: Option<&PublicKey>,
    ) -> Result<Provenance> {
        let refused = |e: tenon_sign::SignError| match e {
            // Its sections do not parse: a broken component, whatever its signature.
            tenon_sign::SignError::NotWasm(message) => {
                Error::Load(crate::engine::LoadError::Invalid(message))
            }
            other => Error::Invalid(format!("the component's signature is refused: {other}")),
        };
        let signed = tenon_sign::verify(wasm).map_err(refused)?;
        let digest = tenon_sign::digest(wasm).map_err(refused)?;
        let Some(signed) = signed else {
            if !options.allow_unsigned {
                return Err(Error::Invalid(
                    "the component is not signed: have its author sign it (tenon-sign sign) and trust their key (tenon trust add), or install it with --allow-unsigned".into(),
                ));
            }
            return Ok(Provenance {
                publisher: None,
                digest,
            });
        };
        let id = signed.key.id();
        let trusted = bundle.is_some_and(|b| *b == signed.key)
            || self.state()?.publishers()?.iter().any(|p| p.id == id);
        if !trusted {
            return Err(Error::Invalid(format!(
                "the component is signed by key {id} ({}), which is not trusted: tenon trust add <name> <key>",
                signed.key
            )));
        }
        Ok(Provenance {
            publisher: Some(id),
            digest,
        })
    }

    /// Checks that a component of `provenance` may install as `name`
    /// `version`: the name is its publisher's (or free), the version's bytes
    /// are the same as any installed ones, and it is no older than the
    /// current version unless `allow_downgrade`. Returns the binding to record
    /// when the name is new.
    pub(crate) fn check_name(
        &self,
        name: &str,
        version: &str,
        provenance: &Provenance,
        options: &InstallOptions,
    ) -> Result<Option<NameOwner>> {
        let owner = self.state()?.name_owner(name)?;
        let signer = |p: &Option<String>| match p {
            Some(id) => format!("key {id}"),
            None => "no key (unsigned)".to_owned(),
        };
        let binding = match &owner {
            Some(owner) => {
                match (&owner.publisher, &provenance.publisher) {
                    (Some(bound), Some(this)) if bound == this => {}
                    // A name installed unsigned is taken by the first signed version.
                    (None, Some(_)) => {}
                    (None, None) => {}
                    (Some(_), _) => {
                        return Err(Error::Invalid(format!(
                            "plugin name `{name}` belongs to the publisher of {}; this component is signed by {}",
                            signer(&owner.publisher),
                            signer(&provenance.publisher)
                        )));
                    }
                }
                (owner.publisher != provenance.publisher).then(|| NameOwner {
                    plugin: name.to_owned(),
                    publisher: provenance.publisher.clone(),
                    bound_at: now_ms(),
                })
            }
            None => Some(NameOwner {
                plugin: name.to_owned(),
                publisher: provenance.publisher.clone(),
                bound_at: now_ms(),
            }),
        };
        let versions = self.state()?.plugin_versions(name)?;
        if let Some(same) = versions.iter().find(|v| v.version == version)
            && same.code_digest() != provenance.digest
        {
            return Err(Error::Invalid(format!(
                "`{name}` {version} is installed already with other code (sha256 {}); a version's code never changes: publish a new version",
                short(&same.sha256)
            )));
        }
        if let Some(current) = self.state()?.plugin(name)? {
            let older = match (
                semver::Version::parse(version),
                semver::Version::parse(&current.version),
            ) {
                (Ok(new), Ok(current)) => new < current,
                _ => false,
            };
            if older && !options.allow_downgrade {
                return Err(Error::Invalid(format!(
                    "`{name}` {version} is older than the current {}: install it with --allow-downgrade, or use tenon plugin rollback",
                    current.version
                )));
            }
        }
        Ok(binding)
    }

    /// Whose each plugin name is.
    pub fn name_owners(&self) -> Result<Vec<NameOwner>> {
        Ok(self.state()?.name_owners()?)
    }
}

impl Installed {
    /// The SHA-256 of the component without its signature (its code); for
    /// records written before signatures, the whole component's.
    pub fn code_digest(&self) -> &str {
        if self.digest.is_empty() {
            &self.sha256
        } else {
            &self.digest
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
