//! What the command line writes for a person or a script: lines on standard
//! output that end the process quietly once the reader went away (`tenon runs
//! list | head -1`), colour only on a terminal, and times as RFC 3339 in UTC.

use std::io::{IsTerminal, Write};

/// `println!` for command output: a closed pipe ends the process with exit 0
/// (the reader took what it wanted) instead of a panic.
#[macro_export]
#[doc(hidden)]
macro_rules! outln {
    () => { $crate::console::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::console::line(format_args!($($arg)*)) };
}

/// Writes one line to standard output; see [`outln!`].
pub fn line(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(text).and_then(|()| out.write_all(b"\n"));
    if let Err(error) = written {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            // Everything this process changed is committed before it prints.
            std::process::exit(0);
        }
        eprintln!("error: could not write to standard output: {error}");
        std::process::exit(1);
    }
}

/// Whether log lines on standard error may carry ANSI colours: only on a
/// terminal, and not when `NO_COLOR` is set (<https://no-color.org>).
pub fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A Unix time in milliseconds as RFC 3339 in UTC, to the second
/// (`2026-12-03T07:04:05Z`); `-` for 0, the "never" of stored records.
pub fn time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map_or_else(
            || format!("{ms} ms"),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}

/// A duration in milliseconds for a person: `850 ms`, `12.5 s`, `4 min 10 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1e3),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_in_utc() {
        assert_eq!(time(1_764_745_445_123), "2025-12-03T07:04:05Z");
        assert_eq!(time(0), "-");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_500), "12.5 s");
        assert_eq!(duration(250_000), "4 min 10 s");
    }
}
