//! Write Tenon plugins in Rust: connectors that talk to a vendor system, and
//! transforms that reshape records between systems.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2` against the WIT
//! package `tenon:connector@0.2.0` (`wit/0.2.0/tenon.wit`). This crate generates the
//! bindings, re-exports them under short names and adds the helpers every
//! connector needs, so a plugin depends on `tenon-sdk` alone (plus `serde`).
//!
//! ```no_run
//! use tenon_sdk::prelude::*;
//!
//! struct Shop;
//!
//! impl Connector for Shop {
//!     fn describe() -> Descriptor {
//!         descriptor!(Kind::Commerce) // name, version, description: from Cargo.toml
//!     }
//!     fn check() -> Result<(), Error> {
//!         Ok(())
//!     }
//!     // `read` and `write` have defaults: a source overrides `read`, a
//!     // destination `write`, and each refuses what it does not serve.
//!     fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
//!         Ok(Page { records: Vec::new(), next_cursor: cursor, more: false })
//!     }
//! }
//!
//! export_connector!(Shop);
//! ```
//!
//! A connector that can also list what it holds, for `tenon reconcile`,
//! implements [`Reconcile`] too and is exported with
//! [`export_reconciling_connector!`] instead; one that takes the vendor's
//! webhooks implements [`Webhook`] and is exported with
//! [`export_webhook_connector!`]; one that does both, with
//! [`export_reconciling_webhook_connector!`].
//!
//! The `README.md` beside this crate walks through a complete connector, from
//! `cargo new` to `tenon flow run`.
//!
//! # Layout
//!
//! - `bindings` (hidden): the code wit-bindgen generates from the WIT; the only
//!   module with `unsafe`. Its types are re-exported at the crate root:
//!   [`Descriptor`], [`StreamInfo`], [`ConfigKey`], [`Kind`], [`Envelope`],
//!   [`Op`], [`Delivery`], [`Page`], [`Outcome`], [`Error`], [`RateLimit`], and
//!   the traits of the worlds' exports, [`Connector`], [`Reconcile`] and
//!   [`Transform`].
//! - [`export_connector!`], [`export_reconciling_connector!`] and
//!   [`export_transform!`]: make a type the component's implementation of a world.
//! - [`error`]: constructors for [`Error`], one per case, and when to use which.
//! - [`describe`]: shorthands for building a [`Descriptor`].
//! - [`record`]: building and decoding [`Envelope`]s, and applying a batch of
//!   [`Delivery`]s one outcome per record.
//! - [`canonical`]: Tenon's canonical streams (orders, customers, sale orders,
//!   products, inventory levels, fulfilments): serde types and JSON Schemas.
//! - [`money`]: decimal amounts and integer minor units, exactly, per currency.
//! - [`cursor`]: [`Watermark`](cursor::Watermark), the "changed since" cursor
//!   that survives timestamp ties.
//! - [`http`]: requests through the host's `http.send`, credentials, and the
//!   mapping of HTTP statuses to [`Error`].
//! - [`config`]: the operator's configuration for this tenant.
//! - [`idmap`]: links between the ids two systems give the same thing.
//! - [`attempts`]: earlier attempts of a delivery, for destinations that take
//!   no idempotency key (`tenon:delivery@0.1.0`).
//! - [`log`]: log lines into the host's log, tagged with tenant and plugin.
//! - [`webhook`]: webhook requests, headers, and signatures checked by the host
//!   with a tenant secret the plugin never sees.
//! - [`prelude`]: everything above in one `use`.

// `#[derive(Config)]` names `::tenon_sdk`, also inside this crate's tests.
extern crate self as tenon_sdk;

#[doc(hidden)]
#[allow(unsafe_code, unused_qualifications)]
pub mod bindings;

pub mod attempts;
pub mod canonical;
pub mod config;
pub mod cursor;
pub mod describe;
pub mod error;
pub mod http;
pub mod idmap;
pub mod log;
pub mod money;
pub mod record;
pub mod webhook;

pub use bindings::connector::tenon::connector::types::{
    ConfigKey, Delivery, Descriptor, Envelope, Error, HeaderScheme, Kind, Op, Outcome, Page,
    RateLimit, SecretInfo, SecretScheme, StreamInfo,
};

/// A plugin that talks to a vendor system: what the component exports as the
/// `connector` world's `connector-api`.
///
/// Implement it on a unit struct and pass that struct to [`export_connector!`].
/// `describe` must not call imports (no HTTP, config or log): the host calls it
/// at install time, before any tenant exists.
///
/// The export checks every call's stream against `describe` before it calls
/// `read` or `write`: a stream the plugin does not declare, or declares but not
/// as readable (writable), is a `permanent` error without your code running. So
/// a read-only connector implements `read` alone, a write-only one `write`
/// alone, and a single-stream connector need not look at `stream` at all.
pub trait Connector {
    /// Who the plugin is: streams, config keys, secrets, egress.
    fn describe() -> Descriptor;

    /// Whether the vendor answers with this tenant's settings (`tenon check`).
    fn check() -> Result<(), Error>;

    /// The page of readable `stream` after `cursor` (`None`: from the start),
    /// at most `limit` records.
    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let _ = (cursor, limit);
        Err(Error::permanent(format!(
            "stream `{stream}` is not readable"
        )))
    }

    /// Applies a batch to writable `stream`: one outcome per delivery, in order.
    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        let _ = batch;
        Err(Error::permanent(format!(
            "stream `{stream}` is not writable"
        )))
    }
}

/// What the export macros call: the stream check in front of [`Connector`].
#[doc(hidden)]
pub mod __export {
    use crate::{Connector, Delivery, Error, Outcome, Page, StreamInfo};

    fn declared<T: Connector>(
        stream: &str,
        allowed: impl Fn(&StreamInfo) -> bool,
        what: &str,
    ) -> Result<(), Error> {
        let descriptor = T::describe();
        match descriptor.streams.iter().find(|s| s.name == stream) {
            Some(info) if allowed(info) => Ok(()),
            Some(_) => Err(Error::permanent(format!(
                "stream `{stream}` of `{}` is not {what}",
                descriptor.name
            ))),
            None => Err(Error::unknown_stream(stream)),
        }
    }

    pub fn read<T: Connector>(
        stream: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, Error> {
        declared::<T>(&stream, |s| s.readable, "readable")?;
        T::read(stream, cursor, limit)
    }

    pub fn write<T: Connector>(
        stream: String,
        batch: Vec<Delivery>,
    ) -> Result<Vec<Outcome>, Error> {
        declared::<T>(&stream, |s| s.writable, "writable")?;
        T::write(stream, batch)
    }

    /// The component's `connector-api`, implemented by forwarding to `T`.
    #[doc(hidden)]
    #[macro_export]
    macro_rules! __export_connector_api {
        ($ty:ident) => {
            struct TenonConnectorApi;
            impl $crate::bindings::connector::exports::tenon::connector::connector_api::Guest
                for TenonConnectorApi
            {
                fn describe() -> $crate::Descriptor {
                    <$ty as $crate::Connector>::describe()
                }
                fn check() -> ::std::result::Result<(), $crate::Error> {
                    <$ty as $crate::Connector>::check()
                }
                fn read(
                    stream: ::std::string::String,
                    cursor: ::std::option::Option<::std::string::String>,
                    limit: u32,
                ) -> ::std::result::Result<$crate::Page, $crate::Error> {
                    $crate::__export::read::<$ty>(stream, cursor, limit)
                }
                fn write(
                    stream: ::std::string::String,
                    batch: ::std::vec::Vec<$crate::Delivery>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::Outcome>, $crate::Error> {
                    $crate::__export::write::<$ty>(stream, batch)
                }
            }
            $crate::bindings::connector::export_connector!(TenonConnectorApi with_types_in $crate::bindings::connector);
        };
    }
}

/// A [`Descriptor`] with what Cargo knows of the crate: `name`, `version` and
/// `description` from `Cargo.toml`, the given `kind`, and no streams, config,
/// secrets or egress yet; fill those in with struct update syntax:
///
/// ```
/// use tenon_sdk::prelude::*;
/// let descriptor = Descriptor {
///     streams: vec![canonical::readable("orders", Some("updated_at"), canonical::ORDERS)],
///     ..tenon_sdk::descriptor!(Kind::Commerce)
/// };
/// assert_eq!(descriptor.name, "tenon-sdk");
/// ```
#[macro_export]
macro_rules! descriptor {
    ($kind:expr) => {
        $crate::Descriptor {
            name: ::std::env!("CARGO_PKG_NAME").to_owned(),
            version: ::std::env!("CARGO_PKG_VERSION").to_owned(),
            description: ::std::env!("CARGO_PKG_DESCRIPTION").to_owned(),
            kind: $kind,
            streams: ::std::vec::Vec::new(),
            egress: ::std::vec::Vec::new(),
            config: ::std::vec::Vec::new(),
            secrets: ::std::vec::Vec::new(),
        }
    };
}

/// A plugin that reshapes records: the `transform` world's exported interface
/// `transform-api`.
///
/// Implement it on a unit struct and pass that struct to [`export_transform!`].
/// A transform has no network; it may read [`config`] and write to [`log`].
pub use bindings::transform::exports::tenon::connector::transform_api::Guest as Transform;

/// What a connector may also provide: its records as it holds them now, the
/// `reconciling-connector` world's exported interface `reconcile-api`.
///
/// Implement it beside [`Connector`] on the same type and pass that type to
/// [`export_reconciling_connector!`]. `reconcile` pages through a stream's
/// records keyed by this system's own ids (those a successful `write` returned
/// as `Ok(Some(id))`), payloads in the stream's schema, deleted records left out;
/// `cursor` and `more` page as in `read`. The host compares each payload, as a
/// JSON value, with what the flow's source and transforms produce now.
pub use bindings::reconcile::exports::tenon::connector::reconcile_api::Guest as Reconcile;

/// Makes a type that implements [`Connector`] this component's `connector` world.
///
/// Call it once, at the crate root, with a type name (not a path):
///
/// ```no_run
/// struct Shop;
/// # use tenon_sdk::prelude::*;
/// # impl Connector for Shop {
/// #     fn describe() -> Descriptor { descriptor!(Kind::Other) }
/// #     fn check() -> Result<(), Error> { Ok(()) }
/// # }
/// tenon_sdk::export_connector!(Shop);
/// ```
///
/// The exports exist only when compiling for `wasm32`; a native build (for
/// `cargo test` of pure logic) type-checks the implementation and exports nothing.
#[macro_export]
macro_rules! export_connector {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__export_connector_api!($ty);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[used]
            static DESCRIBE: fn() -> $crate::Descriptor = <$ty as $crate::Connector>::describe;
        };
    };
}

/// Makes a type that implements both [`Connector`] and [`Reconcile`] this
/// component's `reconciling-connector` world: it exports `connector-api` and
/// `reconcile-api`. Use it instead of [`export_connector!`], not beside it.
///
/// Call it once, at the crate root, with a type name (not a path):
///
/// ```no_run
/// struct Ledger;
/// # use tenon_sdk::prelude::*;
/// # impl Connector for Ledger {
/// #     fn describe() -> Descriptor { descriptor!(Kind::Other) }
/// #     fn check() -> Result<(), Error> { Ok(()) }
/// # }
/// # impl Reconcile for Ledger {
/// #     fn reconcile(_: String, _: Option<String>, _: u32) -> Result<Page, Error> { unimplemented!() }
/// # }
/// tenon_sdk::export_reconciling_connector!(Ledger);
/// ```
///
/// The exports exist only when compiling for `wasm32`; a native build (for
/// `cargo test` of pure logic) type-checks the implementation and exports nothing.
#[macro_export]
macro_rules! export_reconciling_connector {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__export_connector_api!($ty);
            $crate::bindings::reconcile::export_reconcile_api!($ty with_types_in $crate::bindings::reconcile);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[used]
            static DESCRIBE: fn() -> $crate::Descriptor = <$ty as $crate::Connector>::describe;
            #[used]
            static RECONCILE: fn(
                ::std::string::String,
                ::std::option::Option<::std::string::String>,
                u32,
            ) -> ::std::result::Result<$crate::Page, $crate::Error> =
                <$ty as $crate::Reconcile>::reconcile;
        };
    };
}

/// What a connector that takes webhooks provides: the `webhook-connector`
/// world's exported interface `webhook-api`.
///
/// Implement it beside [`Connector`] on the same type and pass that type to
/// [`export_webhook_connector!`]. `handle` gets each request a vendor POSTed to
/// `/hooks/{tenant}/{plugin}`, verifies it (see [`webhook`]) and returns its
/// records, of the plugin's streams.
pub use bindings::webhook::exports::tenon::connector::webhook_api::Guest as Webhook;

/// Makes a type that implements both [`Connector`] and [`Webhook`] this
/// component's `webhook-connector` world: it exports `connector-api` and
/// `webhook-api` and may import `verify`. Use it instead of [`export_connector!`],
/// not beside it.
///
/// ```no_run
/// struct Shop;
/// # use tenon_sdk::prelude::*;
/// # impl Connector for Shop {
/// #     fn describe() -> Descriptor { descriptor!(Kind::Other) }
/// #     fn check() -> Result<(), Error> { Ok(()) }
/// # }
/// # impl Webhook for Shop {
/// #     fn handle(_: webhook::WebhookRequest) -> Result<Vec<Envelope>, Error> { Ok(Vec::new()) }
/// # }
/// tenon_sdk::export_webhook_connector!(Shop);
/// ```
///
/// The exports exist only when compiling for `wasm32`; a native build (for
/// `cargo test` of pure logic) type-checks the implementation and exports nothing.
#[macro_export]
macro_rules! export_webhook_connector {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__export_connector_api!($ty);
            $crate::bindings::webhook::export_webhook_api!($ty with_types_in $crate::bindings::webhook);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[used]
            static DESCRIBE: fn() -> $crate::Descriptor = <$ty as $crate::Connector>::describe;
            #[used]
            static HANDLE: fn(
                $crate::webhook::WebhookRequest,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Envelope>, $crate::Error> =
                <$ty as $crate::Webhook>::handle;
        };
    };
}

/// Makes a type that implements [`Connector`], [`Reconcile`] and [`Webhook`]
/// this component's connector with both extra exports: `connector-api`,
/// `reconcile-api` and `webhook-api` (the `reconciling-connector` and
/// `webhook-connector` worlds together; the host looks for each export on its
/// own). Use it instead of the other connector macros, not beside them.
///
/// ```no_run
/// struct Warehouse;
/// # use tenon_sdk::prelude::*;
/// # impl Connector for Warehouse {
/// #     fn describe() -> Descriptor { descriptor!(Kind::Other) }
/// #     fn check() -> Result<(), Error> { Ok(()) }
/// # }
/// # impl Reconcile for Warehouse {
/// #     fn reconcile(_: String, _: Option<String>, _: u32) -> Result<Page, Error> { unimplemented!() }
/// # }
/// # impl Webhook for Warehouse {
/// #     fn handle(_: webhook::WebhookRequest) -> Result<Vec<Envelope>, Error> { Ok(Vec::new()) }
/// # }
/// tenon_sdk::export_reconciling_webhook_connector!(Warehouse);
/// ```
#[macro_export]
macro_rules! export_reconciling_webhook_connector {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__export_connector_api!($ty);
            $crate::bindings::reconcile::export_reconcile_api!($ty with_types_in $crate::bindings::reconcile);
            $crate::bindings::webhook::export_webhook_api!($ty with_types_in $crate::bindings::webhook);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[used]
            static DESCRIBE: fn() -> $crate::Descriptor = <$ty as $crate::Connector>::describe;
            #[used]
            static RECONCILE: fn(
                ::std::string::String,
                ::std::option::Option<::std::string::String>,
                u32,
            ) -> ::std::result::Result<$crate::Page, $crate::Error> =
                <$ty as $crate::Reconcile>::reconcile;
            #[used]
            static HANDLE: fn(
                $crate::webhook::WebhookRequest,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Envelope>, $crate::Error> =
                <$ty as $crate::Webhook>::handle;
        };
    };
}

/// Makes a type that implements [`Transform`] this component's `transform` world.
///
/// Call it once, at the crate root, with a type name (not a path):
///
/// ```no_run
/// struct Rename;
/// # use tenon_sdk::prelude::*;
/// # impl Transform for Rename {
/// #     fn describe() -> Descriptor { descriptor!(Kind::Transform) }
/// #     fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> { Ok(batch) }
/// # }
/// tenon_sdk::export_transform!(Rename);
/// ```
///
/// The exports exist only when compiling for `wasm32`; a native build (for
/// `cargo test` of pure logic) type-checks the implementation and exports nothing.
#[macro_export]
macro_rules! export_transform {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::bindings::transform::export_transform!($ty with_types_in $crate::bindings::transform);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[used]
            static DESCRIBE: fn() -> $crate::Descriptor = <$ty as $crate::Transform>::describe;
        };
    };
}

/// Everything a plugin author needs, in one `use tenon_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::cursor::Watermark;
    pub use crate::http::Client;
    pub use crate::{
        ConfigKey, Connector, Delivery, Descriptor, Envelope, Error, Kind, Op, Outcome, Page,
        RateLimit, Reconcile, SecretInfo, StreamInfo, Transform, Webhook, config, descriptor,
        export_connector, export_reconciling_connector, export_reconciling_webhook_connector,
        export_transform, export_webhook_connector, http, idmap, log, record, webhook,
    };
    pub use crate::{attempts, canonical, money};
}
