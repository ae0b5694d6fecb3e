//! `tenon:connector@0.2.0`, the current version: its worlds' bindings and
//! conversions. Secrets are declared with their scheme.

use crate::descriptor::{Descriptor, SecretInfo, SecretScheme};

/// The `connector` world: imports `http`, `log`, `config`, `idmap`.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "connector",
        imports: { "tenon:connector/http.send": async },
        exports: { default: async },
    });
}

/// The `transform` world; shares the interfaces of [`connector`].
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "transform",
        exports: { default: async },
        with: {
            "tenon:connector/types": super::connector::tenon::connector::types,
            "tenon:connector/log": super::connector::tenon::connector::log,
            "tenon:connector/config": super::connector::tenon::connector::config,
            "tenon:connector/idmap": super::connector::tenon::connector::idmap,
        },
    });
}

/// The `reconciling-connector` world: only its `reconcile-api` export is used
/// from here.
pub mod reconciling {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "reconciling-connector",
        exports: { default: async },
        with: {
            "tenon:connector/types": super::connector::tenon::connector::types,
            "tenon:connector/http": super::connector::tenon::connector::http,
            "tenon:connector/log": super::connector::tenon::connector::log,
            "tenon:connector/config": super::connector::tenon::connector::config,
            "tenon:connector/idmap": super::connector::tenon::connector::idmap,
        },
    });
}

/// The `webhook-connector` world: only its `webhook-api` export and its
/// `verify` import are used from here.
pub mod webhook {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "webhook-connector",
        exports: { default: async },
        with: {
            "tenon:connector/types": super::connector::tenon::connector::types,
            "tenon:connector/http": super::connector::tenon::connector::http,
            "tenon:connector/log": super::connector::tenon::connector::log,
            "tenon:connector/config": super::connector::tenon::connector::config,
            "tenon:connector/idmap": super::connector::tenon::connector::idmap,
        },
    });
}

pub use connector::tenon::connector::{config, http, idmap, log, types};
pub use webhook::exports::tenon::connector::webhook_api::WebhookRequest;
pub use webhook::tenon::connector::verify;

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

impl From<crate::record::WebhookRequest> for WebhookRequest {
    fn from(r: crate::record::WebhookRequest) -> Self {
        WebhookRequest {
            method: r.method,
            path: r.path,
            headers: r.headers,
            body: r.body,
        }
    }
}
