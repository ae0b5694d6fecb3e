//! Host-side bindings of every released version of `tenon:connector`, and the
//! conversions between their generated types and the host's own domain types.
//!
//! The rest of the host speaks [`Descriptor`], [`Envelope`], [`ReadPage`] and
//! [`GuestError`](crate::GuestError); only this module and the capability modules see generated
//! types, so a new WIT version is a module here and adapters in the
//! capabilities, not a change everywhere. Types that are the same in every
//! version convert through one macro.
//!
//! [`Descriptor`]: crate::descriptor::Descriptor
//! [`Envelope`]: crate::record::Envelope
//! [`ReadPage`]: crate::record::ReadPage

/// The bindings of one contract version's worlds, from its WIT folder `$path`:
/// `connector` (whose interfaces the others share), `transform`,
/// `reconciling-connector` (only its `reconcile-api` export is used) and
/// `webhook-connector` (only its `webhook-api` export and `verify` import).
macro_rules! worlds {
    ($path:tt) => {
        /// The `connector` world: imports `http`, `log`, `config`, `idmap`.
        pub mod connector {
            wasmtime::component::bindgen!({
                path: $path,
                world: "connector",
                imports: { "tenon:connector/http.send": async },
                exports: { default: async },
            });
        }

        /// The `transform` world; shares the interfaces of [`connector`].
        pub mod transform {
            wasmtime::component::bindgen!({
                path: $path,
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

        /// The `reconciling-connector` world.
        pub mod reconciling {
            wasmtime::component::bindgen!({
                path: $path,
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

        /// The `webhook-connector` world.
        pub mod webhook {
            wasmtime::component::bindgen!({
                path: $path,
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

        impl From<$crate::record::WebhookRequest> for WebhookRequest {
            fn from(r: $crate::record::WebhookRequest) -> Self {
                WebhookRequest {
                    method: r.method,
                    path: r.path,
                    headers: r.headers,
                    body: r.body,
                }
            }
        }
    };
}

/// Conversions of the types every version shares, for the version's `types`
/// module `$types`.
macro_rules! shared_conversions {
    ($types:path) => {
        use $crate::descriptor::{ConfigKey, Kind, StreamInfo};
        use $crate::error::GuestError;
        use $crate::record::{Envelope, Op, ReadPage};
        use $types as wit;

        impl From<wit::Error> for GuestError {
            fn from(e: wit::Error) -> Self {
                match e {
                    wit::Error::Retryable(message) => GuestError::Retryable { message },
                    wit::Error::RateLimited(r) => GuestError::RateLimited {
                        after_ms: r.after_ms,
                        message: r.message,
                    },
                    wit::Error::Permanent(message) => GuestError::Permanent { message },
                    wit::Error::Denied(message) => GuestError::Denied { message },
                }
                .bounded()
            }
        }

        impl From<GuestError> for wit::Error {
            fn from(e: GuestError) -> Self {
                match e {
                    GuestError::Retryable { message } => wit::Error::Retryable(message),
                    GuestError::RateLimited { after_ms, message } => {
                        wit::Error::RateLimited(wit::RateLimit { after_ms, message })
                    }
                    GuestError::Permanent { message } => wit::Error::Permanent(message),
                    GuestError::Denied { message } => wit::Error::Denied(message),
                }
            }
        }

        impl From<wit::Envelope> for Envelope {
            fn from(e: wit::Envelope) -> Self {
                Envelope {
                    stream: e.stream,
                    key: e.key,
                    op: match e.op {
                        wit::Op::Upsert => Op::Upsert,
                        wit::Op::Delete => Op::Delete,
                    },
                    payload: e.payload,
                    source_time: e.source_time,
                }
            }
        }

        impl From<Envelope> for wit::Envelope {
            fn from(e: Envelope) -> Self {
                wit::Envelope {
                    stream: e.stream,
                    key: e.key,
                    op: match e.op {
                        Op::Upsert => wit::Op::Upsert,
                        Op::Delete => wit::Op::Delete,
                    },
                    payload: e.payload,
                    source_time: e.source_time,
                }
            }
        }

        impl From<wit::Page> for ReadPage {
            fn from(p: wit::Page) -> Self {
                ReadPage {
                    records: p.records.into_iter().map(Envelope::from).collect(),
                    next_cursor: p.next_cursor,
                    more: p.more,
                }
            }
        }

        pub(crate) fn kind(k: wit::Kind) -> Kind {
            match k {
                wit::Kind::Erp => Kind::Erp,
                wit::Kind::Commerce => Kind::Commerce,
                wit::Kind::Pim => Kind::Pim,
                wit::Kind::Wms => Kind::Wms,
                wit::Kind::Crm => Kind::Crm,
                wit::Kind::Transform => Kind::Transform,
                wit::Kind::Other => Kind::Other,
            }
        }

        pub(crate) fn streams(streams: Vec<wit::StreamInfo>) -> Vec<StreamInfo> {
            streams
                .into_iter()
                .map(|s| StreamInfo {
                    name: s.name,
                    cursor_field: s.cursor_field,
                    schema: s.schema,
                    readable: s.readable,
                    writable: s.writable,
                })
                .collect()
        }

        pub(crate) fn config_keys(keys: Vec<wit::ConfigKey>) -> Vec<ConfigKey> {
            keys.into_iter()
                .map(|c| ConfigKey {
                    name: c.name,
                    description: c.description,
                    required: c.required,
                    default: c.default,
                })
                .collect()
        }
    };
}

pub mod delivery_v0_1;
pub mod v0_1;
pub mod v0_2;
