//! The first-party plugins of `plugins/`, compiled to components by the build
//! script and embedded in the binary, so one file deploys the host and its
//! bundled connectors.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The bundled component called `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, wasm)| *wasm)
}
