//! The `tenon` binary: parse the command line, hand over to [`tenon::cli`].

fn main() -> std::process::ExitCode {
    tenon::cli::main()
}
