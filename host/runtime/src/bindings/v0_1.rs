//! `tenon:connector@0.1.0`, frozen: its worlds' bindings and conversions. A
//! 0.1.0 plugin declares its secrets by name only and picks the scheme per
//! request; its descriptor's secrets become [`SecretScheme::Legacy`]
//! declarations.
//!
//! [`SecretScheme::Legacy`]: crate::descriptor::SecretScheme::Legacy

use crate::descriptor::{Descriptor, SecretInfo};

/// The `connector` world: imports `http`, `log`, `config`, `idmap`.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "connector",
        imports: { "tenon:connector/http.send": async },
        exports: { default: async },
    });
}

/// The `transform` world; shares the interfaces of [`connector`].
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
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
        path: "../../wit/0.1.0",
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
        path: "../../wit/0.1.0",
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
