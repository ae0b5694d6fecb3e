//! What the host records when a plugin is installed, beside what the plugin
//! declares about itself (its descriptor, defined with its checks in the trust
//! boundary and re-exported here). Knows nothing of wasmtime or storage.

use serde::{Deserialize, Serialize};
pub use tenon_runtime::descriptor::{
    Api, ConfigKey, Descriptor, Kind, SecretInfo, SecretScheme, StreamInfo, World, is_identifier,
};

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
    /// The version of `tenon:connector` it was built against.
    #[serde(default = "legacy_api")]
    pub api: Api,
    /// The id of the key that signed it; none if it was installed unsigned.
    #[serde(default)]
    pub publisher: Option<String>,
    /// The sha256 of the component without its signature, hex: its code.
    #[serde(default)]
    pub digest: String,
}

/// Records from before the contract had versions are of 0.1.0 components.
const fn legacy_api() -> Api {
    Api::V0_1
}
