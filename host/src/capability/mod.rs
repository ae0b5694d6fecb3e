//! Host capabilities: one module per WIT import of `tenon:connector` (`config`,
//! `http`, `idmap`, `log`, `verify`), each with its own per-call state and its own
//! `add_to_linker`, in the manner of `wasmtime-wasi-config`. The engine names none of them; [`crate::sandbox`] wires
//! them into a call's store.

pub mod config;
pub mod http;
pub mod idmap;
pub mod log;
pub mod oauth;
pub mod verify;
