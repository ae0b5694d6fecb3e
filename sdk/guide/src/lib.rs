//! Every Rust snippet of the SDK guide (`sdk/README.md`), compiled where it
//! stands in the guide: the build script puts each block into the context its
//! info string names (```` ```rust context=write ````, a file in `contexts/`)
//! and this crate compiles them all, so `cargo build` or `cargo test` fails
//! when a snippet stops compiling. The blocks that are files of the guide's
//! connector (`file=src/lib.rs`) are built as a component by
//! `host/tests/sdk_readme.rs` instead. Nothing here runs.

include!(concat!(env!("OUT_DIR"), "/snippets.rs"));

/// What the destination connector of several contexts already has.
mod vendor {
    use tenon_sdk::prelude::*;

    /// The ERP's API, as the guide's connector builds it.
    pub(crate) fn erp() -> Result<Client, Error> {
        Ok(Client::new(config::require("base_url")?).credential("api_token"))
    }
}
