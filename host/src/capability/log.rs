//! `tenon:connector/log`, and the guest's stdout/stderr: every line a guest writes
//! ends up in `tracing`, tagged with tenant and plugin, and bounded so a chatty
//! guest cannot flood the host's logs.

use crate::bindings::wit_log::{self, Level};
use wasmtime::component::{HasData, Linker};

/// Longest log line kept, in bytes; the rest is cut and marked.
pub const MAX_LINE_BYTES: usize = 4096;

/// Log lines a guest may emit per call; further lines are dropped and counted.
pub const MAX_LINES_PER_CALL: u32 = 1_000;

/// Per-call logging state.
#[derive(Debug)]
pub struct GuestLog {
    tenant: String,
    plugin: String,
    lines: u32,
    dropped: u32,
}

impl GuestLog {
    pub fn new(tenant: &str, plugin: &str) -> Self {
        GuestLog {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            lines: 0,
            dropped: 0,
        }
    }

    /// Emits what the guest wrote to stdout or stderr, one event per line.
    pub fn emit_output(&mut self, stream: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let level = if stream == "stderr" {
                Level::Warn
            } else {
                Level::Info
            };
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

    fn emit(&mut self, level: Level, source: &str, message: &str) {
        if self.lines >= MAX_LINES_PER_CALL {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        let message = truncate(message, MAX_LINE_BYTES);
        let (tenant, plugin) = (self.tenant.as_str(), self.plugin.as_str());
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
}

fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &s[..end], s.len() - end).into()
}

impl wit_log::Host for GuestLog {
    fn log(&mut self, level: Level, message: String) {
        self.emit(level, "log", &message);
    }
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut GuestLog;
}

/// Adds `tenon:connector/log` to `linker`, served by the [`GuestLog`] that `get`
/// finds in the store.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut GuestLog,
) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<T, HasLog>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(3000);
        let cut = truncate(&line, MAX_LINE_BYTES);
        assert!(cut.len() < line.len());
        assert!(cut.ends_with("bytes cut]"));
    }

    #[test]
    fn lines_beyond_the_budget_are_dropped() {
        let mut log = GuestLog::new("acme", "p");
        for _ in 0..MAX_LINES_PER_CALL + 5 {
            wit_log::Host::log(&mut log, Level::Debug, "x".into());
        }
        assert_eq!(log.dropped, 5);
    }
}
