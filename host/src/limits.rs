//! The limits of plugin calls (defined in the trust boundary,
//! [`tenon_runtime::limits`], and re-exported here) and the host's own caps on
//! what runs may store and what listings and reconciliations may hold.

pub use tenon_runtime::limits::*;
