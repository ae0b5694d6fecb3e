//! The host's typed error: what a caller (the CLI, the admin API) must branch
//! on, and the exit code each case maps to.

use crate::engine::LoadError;
use crate::sandbox::CallError;

/// An operation of [`crate::Tenon`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something named does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// The input was refused; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this (a tenant token beyond the operator's
    /// policy); nothing changed.
    #[error("{0}")]
    Forbidden(String),
    /// Something is under way that this must wait for (a reconciliation of the
    /// same tenant); nothing changed.
    #[error("{0}")]
    Busy(String),
    /// A component could not be loaded (at install, or when a run or a call
    /// needs it and its file or compiled form is damaged); nothing changed.
    #[error("could not load the plugin: {0}")]
    Load(#[from] LoadError),
    /// A plugin call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The host itself failed (storage, I/O); the message gives every cause,
    /// outermost first.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }

    /// The process exit code for this error: 3 not found, 4 refused input,
    /// 5 a plugin call failed, 1 anything else. (2 is a usage error, from clap.)
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound { .. } => 3,
            Error::Invalid(_) | Error::Forbidden(_) | Error::Busy(_) | Error::Load(_) => 4,
            Error::Call(_) => 5,
            Error::Internal(_) => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
