//! What a plugin declares about itself through `describe`, in the host's own
//! types whichever version of `tenon:connector` it was built against, and the
//! checks the host relies on before it stores or runs it. Knows nothing of
//! wasmtime or storage.

use serde::{Deserialize, Serialize};

/// Which world of `tenon:connector` a component targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    Connector,
    Transform,
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Connector => "connector",
            World::Transform => "transform",
        })
    }
}

/// The version of `tenon:connector` a component was built against. Every
/// released version stays served; older ones through adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Api {
    /// `tenon:connector@0.1.0`: secrets are names, and a request chooses the
    /// scheme it applies one by.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `tenon:connector@0.2.0`: secrets are declared with their scheme.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl Api {
    /// The newest version, the one the SDK builds against.
    pub const CURRENT: Api = Api::V0_2;
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Api::V0_1 => "0.1.0",
            Api::V0_2 => "0.2.0",
        })
    }
}

/// The kind of system a plugin talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Erp,
    Commerce,
    Pim,
    Wms,
    Crm,
    Transform,
    Other,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self).expect("kind serialises");
        f.write_str(text.as_str().unwrap_or("other"))
    }
}

/// A stream a plugin can read or write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub name: String,
    pub cursor_field: Option<String>,
    /// JSON Schema of the payload.
    pub schema: String,
    pub readable: bool,
    pub writable: bool,
}

/// A configuration key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKey {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub default: Option<String>,
}

/// How the host applies a tenant secret to a plugin's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum SecretScheme {
    /// `Authorization: Bearer <secret>`; an OAuth 2 grant applies only so.
    Bearer,
    /// `Authorization: Basic base64(<user>:<secret>)`, the user name from the
    /// config key `user_config` (empty when none).
    BasicPassword {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_config: Option<String>,
    },
    /// `Authorization: Basic base64(<secret>:)`.
    BasicUser,
    /// `<header>: <prefix><secret>`.
    Header {
        header: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
    },
    /// Never sent: only for verifying webhook signatures.
    Hmac,
    /// A `tenon:connector@0.1.0` plugin's secret: the request names the scheme.
    Legacy,
}

impl std::fmt::Display for SecretScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretScheme::Bearer => f.write_str("bearer"),
            SecretScheme::BasicPassword { user_config: None } => f.write_str("basic password"),
            SecretScheme::BasicPassword {
                user_config: Some(key),
            } => write!(f, "basic password, user from config `{key}`"),
            SecretScheme::BasicUser => f.write_str("basic user name"),
            SecretScheme::Header { header, prefix } => {
                write!(
                    f,
                    "header `{header}: {}<secret>`",
                    prefix.as_deref().unwrap_or("")
                )
            }
            SecretScheme::Hmac => f.write_str("hmac (never sent)"),
            SecretScheme::Legacy => f.write_str("chosen per request (tenon:connector@0.1.0)"),
        }
    }
}

impl SecretScheme {
    /// Whether the host ever sends a secret of this scheme to a vendor.
    pub fn is_sent(&self) -> bool {
        !matches!(self, SecretScheme::Hmac)
    }
}

/// A tenant secret a plugin uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SecretRepr")]
pub struct SecretInfo {
    pub name: String,
    pub description: String,
    #[serde(flatten)]
    pub scheme: SecretScheme,
    /// Whether a tenant must set it to enable the plugin.
    pub required: bool,
}

/// Secrets named with this prefix are optional for a `tenon:connector@0.1.0`
/// plugin (which cannot say so): it verifies webhooks with them, and a tenant
/// that sets none takes no webhooks from it.
pub const LEGACY_WEBHOOK_SECRET_PREFIX: &str = "webhook_";

impl SecretInfo {
    /// A `tenon:connector@0.1.0` secret: a bare name.
    pub fn legacy(name: String) -> SecretInfo {
        SecretInfo {
            required: !name.starts_with(LEGACY_WEBHOOK_SECRET_PREFIX),
            description: String::new(),
            scheme: SecretScheme::Legacy,
            name,
        }
    }
}

/// A stored secret declaration: a bare name in records written before secrets
/// had schemes, else the whole declaration.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretRepr {
    Name(String),
    Declared {
        name: String,
        #[serde(default)]
        description: String,
        #[serde(flatten)]
        scheme: SecretScheme,
        required: bool,
    },
}

impl From<SecretRepr> for SecretInfo {
    fn from(repr: SecretRepr) -> Self {
        match repr {
            SecretRepr::Name(name) => SecretInfo::legacy(name),
            SecretRepr::Declared {
                name,
                description,
                scheme,
                required,
            } => SecretInfo {
                name,
                description,
                scheme,
                required,
            },
        }
    }
}

/// What a plugin says about itself through `describe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub description: String,
    pub streams: Vec<StreamInfo>,
    /// Hosts the plugin says it needs to reach.
    pub egress: Vec<String>,
    pub config: Vec<ConfigKey>,
    /// The tenant secrets the plugin asks the host to apply or verify with.
    pub secrets: Vec<SecretInfo>,
}

/// Headers a plugin may never set or have a secret put in: the host sets them
/// (`Host`, framing) or they concern the connection, not the vendor.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

impl Descriptor {
    /// Checks what the host relies on: a usable name and version, a kind that
    /// matches the world, no duplicate streams, config keys or secrets, secret
    /// names and schemes the host can apply.
    pub fn validate(&self, world: World) -> Result<(), String> {
        if !is_identifier(&self.name) {
            return Err(format!(
                "plugin name `{}` must be 1-64 lowercase letters, digits or dashes, starting with a letter",
                self.name
            ));
        }
        if semver::Version::parse(&self.version).is_err() {
            return Err(format!(
                "plugin version `{}` is not a semantic version (like 1.2.3)",
                self.version
            ));
        }
        match (world, self.kind) {
            (World::Transform, Kind::Transform) => {}
            (World::Transform, kind) => {
                return Err(format!(
                    "a transform component declares kind `{kind}`; it must be `transform`"
                ));
            }
            (World::Connector, Kind::Transform) => {
                return Err("a connector component declares kind `transform`".into());
            }
            (World::Connector, _) => {}
        }
        duplicates("stream", self.streams.iter().map(|s| s.name.as_str()))?;
        duplicates("config key", self.config.iter().map(|c| c.name.as_str()))?;
        duplicates("secret", self.secrets.iter().map(|s| s.name.as_str()))?;
        for stream in &self.streams {
            if stream.name.is_empty() {
                return Err("a stream has an empty name".into());
            }
        }
        for secret in &self.secrets {
            self.validate_secret(secret)?;
        }
        Ok(())
    }

    fn validate_secret(&self, secret: &SecretInfo) -> Result<(), String> {
        let name = &secret.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(format!(
                "secret name `{name}` must be 1-64 lowercase letters, digits, `_` or `-`"
            ));
        }
        match &secret.scheme {
            SecretScheme::BasicPassword {
                user_config: Some(key),
            } if !self.config.iter().any(|c| &c.name == key) => Err(format!(
                "secret `{name}` takes its user name from config key `{key}`, which the plugin does not declare"
            )),
            SecretScheme::Header { header, prefix } => {
                if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                    return Err(format!(
                        "secret `{name}` goes in header `{header}`, which is not a valid header name"
                    ));
                }
                if RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
                    return Err(format!(
                        "secret `{name}` goes in header `{header}`, which the host sets itself"
                    ));
                }
                if prefix
                    .as_deref()
                    .is_some_and(|p| p.chars().any(|c| c.is_control()) || p.len() > 64)
                {
                    return Err(format!(
                        "secret `{name}` has a header prefix that is not printable text of at most 64 bytes"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The stream called `name`, if the plugin declares it.
    pub fn stream(&self, name: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The secret called `name`, if the plugin declares it.
    pub fn secret(&self, name: &str) -> Option<&SecretInfo> {
        self.secrets.iter().find(|s| s.name == name)
    }
}

fn duplicates<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{what} `{name}` is declared twice"));
        }
    }
    Ok(())
}

/// Whether `s` is a name Tenon accepts for plugins, tenants and flows:
/// lowercase ASCII letters, digits and dashes, starting with a letter, at most 64.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "demo-shop".into(),
            version: "0.1.0".into(),
            kind: Kind::Commerce,
            description: String::new(),
            streams: vec![],
            egress: vec![],
            config: vec![],
            secrets: vec![],
        }
    }

    #[test]
    fn descriptors_are_checked() {
        assert!(descriptor().validate(World::Connector).is_ok());
        assert!(
            descriptor()
                .validate(World::Transform)
                .unwrap_err()
                .contains("kind")
        );
        let bad_name = Descriptor {
            name: "Demo Shop".into(),
            ..descriptor()
        };
        assert!(
            bad_name
                .validate(World::Connector)
                .unwrap_err()
                .contains("name")
        );
        let bad_version = Descriptor {
            version: "one".into(),
            ..descriptor()
        };
        assert!(
            bad_version
                .validate(World::Connector)
                .unwrap_err()
                .contains("version")
        );
        let twice = Descriptor {
            secrets: vec![
                SecretInfo::legacy("a".into()),
                SecretInfo::legacy("a".into()),
            ],
            ..descriptor()
        };
        assert!(
            twice
                .validate(World::Connector)
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn secret_schemes_must_be_applicable() {
        let with = |scheme| Descriptor {
            secrets: vec![SecretInfo {
                name: "api_token".into(),
                description: String::new(),
                scheme,
                required: true,
            }],
            ..descriptor()
        };
        let host = with(SecretScheme::Header {
            header: "Host".into(),
            prefix: None,
        });
        assert!(
            host.validate(World::Connector)
                .unwrap_err()
                .contains("sets itself")
        );
        let user = with(SecretScheme::BasicPassword {
            user_config: Some("api_key".into()),
        });
        assert!(
            user.validate(World::Connector)
                .unwrap_err()
                .contains("api_key")
        );
        assert!(
            with(SecretScheme::Bearer)
                .validate(World::Connector)
                .is_ok()
        );
    }

    #[test]
    fn secrets_stored_as_names_read_as_legacy_declarations() {
        let old: SecretInfo = serde_json::from_str(r#""webhook_secret""#).unwrap();
        assert_eq!(old.scheme, SecretScheme::Legacy);
        assert!(!old.required);
        let new = SecretInfo {
            name: "api_token".into(),
            description: "The token".into(),
            scheme: SecretScheme::Header {
                header: "X-Api-Key".into(),
                prefix: None,
            },
            required: true,
        };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<SecretInfo>(&json).unwrap(), new);
    }
}
