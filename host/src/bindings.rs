//! Host-side bindings of the WIT package `tenon:connector@0.1.0`, and the
//! conversions between its generated types and the host's own domain types.
//!
//! The rest of the host speaks `plugin::Descriptor`, `record::Envelope` and
//! `GuestError`; only this module and the capability modules see generated types,
//! so a new WIT version is an adapter here, not a change everywhere.

use crate::plugin::{ConfigKey, Descriptor, Kind, StreamInfo};
use crate::record::{Envelope, Op};

/// The `connector` world: imports `http`, `log`, `config`.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "connector",
        imports: { "tenon:connector/http.send": async },
        exports: { default: async },
    });
}

/// The `transform` world: imports `log`, `config`; shares their bindings with
/// [`connector`] so one host implementation serves both worlds.
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
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

/// The `reconciling-connector` world: a connector that also exports
/// `reconcile-api`. Only that export is used from here; the rest is [`connector`].
pub mod reconciling {
    wasmtime::component::bindgen!({
        path: "../wit",
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

/// The `webhook-connector` world: a connector that also exports `webhook-api`
/// and imports `verify`. Only those two are used from here; the rest is
/// [`connector`].
pub mod webhook {
    wasmtime::component::bindgen!({
        path: "../wit",
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

pub use webhook::tenon::connector::verify as wit_verify;

pub use connector::tenon::connector::{
    config as wit_config, http as wit_http, idmap as wit_idmap, log as wit_log, types,
};

/// An error a guest returned, or that the host returns to a guest, by case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GuestError {
    #[error("retryable: {message}")]
    Retryable { message: String },
    #[error("rate limited, retry after {after_ms} ms: {message}")]
    RateLimited { after_ms: u64, message: String },
    #[error("permanent: {message}")]
    Permanent { message: String },
    #[error("denied: {message}")]
    Denied { message: String },
}

impl From<types::Error> for GuestError {
    fn from(e: types::Error) -> Self {
        match e {
            types::Error::Retryable(message) => GuestError::Retryable { message },
            types::Error::RateLimited(r) => GuestError::RateLimited {
                after_ms: r.after_ms,
                message: r.message,
            },
            types::Error::Permanent(message) => GuestError::Permanent { message },
            types::Error::Denied(message) => GuestError::Denied { message },
        }
    }
}

impl From<GuestError> for types::Error {
    fn from(e: GuestError) -> Self {
        match e {
            GuestError::Retryable { message } => types::Error::Retryable(message),
            GuestError::RateLimited { after_ms, message } => {
                types::Error::RateLimited(types::RateLimit { after_ms, message })
            }
            GuestError::Permanent { message } => types::Error::Permanent(message),
            GuestError::Denied { message } => types::Error::Denied(message),
        }
    }
}

impl From<types::Descriptor> for Descriptor {
    fn from(d: types::Descriptor) -> Self {
        Descriptor {
            name: d.name,
            version: d.version,
            kind: match d.kind {
                types::Kind::Erp => Kind::Erp,
                types::Kind::Commerce => Kind::Commerce,
                types::Kind::Pim => Kind::Pim,
                types::Kind::Wms => Kind::Wms,
                types::Kind::Crm => Kind::Crm,
                types::Kind::Transform => Kind::Transform,
                types::Kind::Other => Kind::Other,
            },
            description: d.description,
            streams: d
                .streams
                .into_iter()
                .map(|s| StreamInfo {
                    name: s.name,
                    cursor_field: s.cursor_field,
                    schema: s.schema,
                    readable: s.readable,
                    writable: s.writable,
                })
                .collect(),
            egress: d.egress,
            config: d
                .config
                .into_iter()
                .map(|c| ConfigKey {
                    name: c.name,
                    description: c.description,
                    required: c.required,
                    default: c.default,
                })
                .collect(),
            secrets: d.secrets,
        }
    }
}

impl From<types::Envelope> for Envelope {
    fn from(e: types::Envelope) -> Self {
        Envelope {
            stream: e.stream,
            key: e.key,
            op: match e.op {
                types::Op::Upsert => Op::Upsert,
                types::Op::Delete => Op::Delete,
            },
            payload: e.payload,
            source_time: e.source_time,
        }
    }
}

impl From<Envelope> for types::Envelope {
    fn from(e: Envelope) -> Self {
        types::Envelope {
            stream: e.stream,
            key: e.key,
            op: match e.op {
                Op::Upsert => types::Op::Upsert,
                Op::Delete => types::Op::Delete,
            },
            payload: e.payload,
            source_time: e.source_time,
        }
    }
}
