//! `tenon:connector/log`: every line a guest logs ends up in `tracing`, tagged
//! with tenant and plugin, and bounded so a chatty guest cannot flood the host's
//! logs. (What a guest writes to stdout and stderr is the sandbox's: see
//! [`crate::sandbox`].)

use super::Capability;
use crate::bindings::{v0_1, v0_2};
use crate::call::{CallContext, CallReport, CallState, States};
use crate::descriptor::World;
use crate::error::cut;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest log line kept, in bytes; the rest is cut and marked.
pub const MAX_LINE_BYTES: usize = 4096;

/// Log lines a guest may emit per call; further lines are dropped and counted.
pub const MAX_LINES_PER_CALL: u32 = 1_000;

/// The level of a guest's line, whichever contract version it came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Per-call logging state.
#[derive(Debug)]
pub struct GuestLog {
    tenant: Arc<str>,
    plugin: Arc<str>,
    lines: u32,
    dropped: u32,
}

impl GuestLog {
    pub fn new(tenant: &Arc<str>, plugin: &Arc<str>) -> Self {
        GuestLog {
            tenant: Arc::clone(tenant),
            plugin: Arc::clone(plugin),
            lines: 0,
            dropped: 0,
        }
    }

    /// Emits one line from `source` (`log`, `stdout`, `stderr`) within the
    /// call's budget of lines.
    pub fn emit(&mut self, level: Level, source: &str, message: &str) {
        if self.lines >= MAX_LINES_PER_CALL {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        let message = cut(message.to_owned(), MAX_LINE_BYTES);
        let (tenant, plugin) = (&*self.tenant, &*self.plugin);
        match level {
            Level::Trace => {
                tracing::trace!(target: "tenon::guest", tenant, plugin, source, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "tenon::guest", tenant, plugin, source, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "tenon::guest", tenant, plugin, source, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "tenon::guest", tenant, plugin, source, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "tenon::guest", tenant, plugin, source, "{message}")
            }
        }
    }

    /// Emits what the guest wrote to stdout or stderr, one line each.
    pub fn emit_output(&mut self, stream: &str, bytes: &[u8]) {
        let level = if stream == "stderr" {
            Level::Warn
        } else {
            Level::Info
        };
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.emit(level, stream, line);
        }
    }

    /// Closes the call: reports lines that were dropped.
    pub fn finish(&self) {
        if self.dropped > 0 {
            tracing::warn!(
                tenant = %self.tenant, plugin = %self.plugin, dropped = self.dropped,
                "Guest exceeded {MAX_LINES_PER_CALL} log lines in one call; the rest were dropped"
            );
        }
    }
}

impl v0_2::log::Host for GuestLog {
    fn log(&mut self, level: v0_2::log::Level, message: String) {
        use v0_2::log::Level as L;
        let level = match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        self.emit(level, "log", &message);
    }
}

impl v0_1::log::Host for GuestLog {
    fn log(&mut self, level: v0_1::log::Level, message: String) {
        use v0_1::log::Level as L;
        let level = match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        self.emit(level, "log", &message);
    }
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut GuestLog;
}

/// The `log` capability.
#[derive(Debug)]
pub struct Log;

impl Capability for Log {
    fn add_to_linker(&self, linker: &mut Linker<CallState>, _world: World) -> anyhow::Result<()> {
        v0_2::log::add_to_linker::<CallState, HasLog>(linker, CallState::get::<GuestLog>)?;
        v0_1::log::add_to_linker::<CallState, HasLog>(linker, CallState::get::<GuestLog>)?;
        Ok(())
    }

    fn prepare(&self, call: &CallContext, states: &mut States) {
        states.insert(GuestLog::new(&call.tenant, &call.plugin));
    }

    fn finish(&self, states: &mut States, _report: &mut CallReport) {
        if let Some(log) = states.get_mut::<GuestLog>() {
            log.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_budget_are_dropped() {
        let mut log = GuestLog::new(&Arc::from("acme"), &Arc::from("p"));
        for _ in 0..MAX_LINES_PER_CALL + 5 {
            log.emit(Level::Debug, "log", "x");
        }
        assert_eq!(log.dropped, 5);
    }
}
