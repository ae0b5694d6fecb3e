//! `tenon-sign`: make a signing key, sign a component, verify one.
//!
//! ```sh
//! tenon-sign keygen acme.key              # writes acme.key (secret, 0600) and acme.key.pub
//! tenon-sign sign --key acme.key target/wasm32-wasip2/release/my_shop.wasm
//! tenon-sign verify target/wasm32-wasip2/release/my_shop.wasm
//! ```

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tenon_sign::PublicKey;

#[derive(Debug, Parser)]
#[command(name = "tenon-sign", version, about = "Sign Tenon plugin components")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new key: `<path>` holds the secret key (only you may read it),
    /// `<path>.pub` the public key operators trust (`tenon trust add`).
    Keygen { path: PathBuf },
    /// Sign a component, replacing its file (or writing `--out`).
    Sign {
        /// The secret key, as `keygen` wrote it.
        #[arg(long)]
        key: PathBuf,
        component: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a component's signature; with `--key`, that it is this key's.
    Verify {
        component: PathBuf,
        /// The public key it must be signed with.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(4)
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Keygen { path } => {
            let (key, public) = tenon_sign::keygen_files(&path)?;
            println!(
                "Key {} written: secret {}, public {}.",
                key.id(),
                path.display(),
                public.display()
            );
        }
        Command::Sign {
            key,
            component,
            out,
        } => {
            let key = tenon_sign::sign_file(&key, &component, out.as_deref())?;
            println!(
                "Signed {} with key {}.",
                out.as_deref().unwrap_or(&component).display(),
                key.id()
            );
        }
        Command::Verify { component, key } => {
            let wasm = read(&component)?;
            let signed = tenon_sign::verify(&wasm)
                .map_err(|e| format!("{}: {e}", component.display()))?
                .ok_or_else(|| format!("{} is not signed", component.display()))?;
            if let Some(key) = key {
                let text = String::from_utf8(read(&key)?)
                    .map_err(|_| format!("{} is not a key", key.display()))?;
                let expected = PublicKey::from_text(&text).map_err(|e| e.to_string())?;
                if expected != signed.key {
                    return Err(format!(
                        "{} is signed by key {}, not {}",
                        component.display(),
                        signed.key.id(),
                        expected.id()
                    ));
                }
            }
            println!(
                "{} is signed by key {} ({}); digest {}.",
                component.display(),
                signed.key.id(),
                signed.key,
                signed.digest
            );
        }
    }
    Ok(())
}
