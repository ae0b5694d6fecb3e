//! What a plugin declares about itself (its descriptor) and what the host records
//! when it is installed. Owns the validation of descriptors; knows nothing of
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
    /// Names of tenant secrets the plugin asks the host to apply to its requests.
    pub secrets: Vec<String>,
}

impl Descriptor {
    /// Checks what the host relies on: a usable name and version, a kind that
    /// matches the world, no duplicate streams, config keys or secrets.
    pub fn validate(&self, world: World) -> Result<(), String> {
        if !is_identifier(&self.name) {
            return Err(format!(
                "plugin name `{}` must be 1-64 lowercase letters, digits or dashes, starting with a letter",
                self.name
            ));
        }
        if !is_version(&self.version) {
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
        duplicates("secret", self.secrets.iter().map(String::as_str))?;
        for stream in &self.streams {
            if stream.name.is_empty() {
                return Err("a stream has an empty name".into());
            }
        }
        Ok(())
    }

    /// The stream called `name`, if the plugin declares it.
    pub fn stream(&self, name: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.name == name)
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

fn is_version(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// An installed plugin, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The plugin's name, which is also its id.
    pub id: String,
    pub version: String,
    pub world: World,
    /// sha256 of the component's bytes, hex.
    pub sha256: String,
    pub size: u64,
    pub descriptor: Descriptor,
    /// Limits for every tenant, unless a tenant's enablement overrides them.
    #[serde(default)]
    pub limits: crate::limits::LimitOverrides,
    /// Unix time (seconds) of the install.
    pub installed_at: u64,
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
            secrets: vec!["a".into(), "a".into()],
            ..descriptor()
        };
        assert!(
            twice
                .validate(World::Connector)
                .unwrap_err()
                .contains("twice")
        );
    }
}
