//! `tenon:connector@0.1.0`, frozen: its worlds' bindings and conversions. A
//! 0.1.0 plugin declares its secrets by name only and picks the scheme per
//! request; its descriptor's secrets become [`SecretScheme::Legacy`]
//! declarations.
//!
//! [`SecretScheme::Legacy`]: crate::descriptor::SecretScheme::Legacy

use crate::descriptor::{Descriptor, SecretInfo};

worlds!("../../wit/0.1.0");

shared_conversions!(super::v0_1::types);

impl From<types::Descriptor> for Descriptor {
    fn from(d: types::Descriptor) -> Self {
        Descriptor {
            name: d.name,
            version: d.version,
            kind: kind(d.kind),
            description: d.description,
            streams: streams(d.streams),
            egress: d.egress,
            config: config_keys(d.config),
            secrets: d.secrets.into_iter().map(SecretInfo::legacy).collect(),
        }
    }
}

/// The scheme a 0.1.0 request asked for, in the host's terms.
pub(crate) fn scheme(s: http::AuthScheme) -> LegacyScheme {
    match s {
        http::AuthScheme::Bearer => LegacyScheme::Bearer,
        http::AuthScheme::Basic(user) => LegacyScheme::Basic(user),
        http::AuthScheme::Header(name) => LegacyScheme::Header(name),
    }
}

/// How a 0.1.0 request asks for its secret to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyScheme {
    Bearer,
    /// With this user name.
    Basic(String),
    /// In this header.
    Header(String),
}
