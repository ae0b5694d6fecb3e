//! `tenon:connector@0.2.0`, the current version: its worlds' bindings and
//! conversions. Secrets are declared with their scheme.

use crate::descriptor::{Descriptor, SecretInfo, SecretScheme};

worlds!("../../wit/0.2.0");

shared_conversions!(super::v0_2::types);

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
            secrets: d
                .secrets
                .into_iter()
                .map(|s| SecretInfo {
                    name: s.name,
                    description: s.description,
                    required: s.required,
                    scheme: match s.scheme {
                        types::SecretScheme::Bearer => SecretScheme::Bearer,
                        types::SecretScheme::BasicPassword(user_config) => {
                            SecretScheme::BasicPassword { user_config }
                        }
                        types::SecretScheme::BasicUser => SecretScheme::BasicUser,
                        types::SecretScheme::Header(h) => SecretScheme::Header {
                            header: h.name,
                            prefix: h.prefix,
                        },
                        types::SecretScheme::Hmac => SecretScheme::Hmac,
                    },
                })
                .collect(),
        }
    }
}
