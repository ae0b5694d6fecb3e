//! Backing up a data folder into one file, and restoring such a file into an
//! empty folder: every entry of the state, the installed component files and
//! the keys that seal secrets (so a backup opens what it holds, and must be kept
//! as carefully as the folder). The compile cache is left out: it is rebuilt.
//!
//! The file is JSON lines: a header (`{"tenon_backup": 1, ...}`), then one line
//! per state entry (`{"tree", "key", "value"}`, base64) and per file (`{"file",
//! "data"}`), then a trailer with the counts, so a cut file is refused. A
//! backup is the state of one instant: the process holding the folder is its
//! only writer, and its writes wait while the state is read ([`State::dump`]).
//! A running server makes one for `tenon --server URL state backup FILE`
//! (`GET /api/v1/state/backup`, operator only).

use crate::error::{Error, Result};
use crate::host::{Tenon, now_ms};
use crate::keys::{Keyring, private_dir, write_private};
use crate::state::State;
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

const FORMAT: u32 = 1;

/// What a backup holds, or a restore put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub entries: u64,
    pub components: u64,
    pub keys: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header {
        tenon_backup: u32,
        created_at: u64,
    },
    Entry {
        tree: String,
        key: String,
        value: String,
    },
    File {
        file: String,
        data: String,
    },
    End {
        end: Summary,
    },
}

impl Tenon {
    /// Writes a backup of this data folder to `to` (0600, replaced only once
    /// complete).
    pub fn backup(&self, to: &Path) -> Result<Summary> {
        let (bytes, summary) = self.backup_bytes()?;
        write_private(to, &bytes)?;
        tracing::info!(file = %to.display(), entries = summary.entries, components = summary.components, "Backup written");
        Ok(summary)
    }

    /// [`Tenon::backup`], recorded in the audit log as `actor`'s.
    pub fn backup_for(&self, to: &Path, actor: &str) -> Result<Summary> {
        let summary = self.backup(to)?;
        self.audit_backup(&summary, actor, &to.display().to_string())?;
        Ok(summary)
    }

    /// [`Tenon::backup_bytes`] for `actor` (a server's operator token),
    /// recorded in the audit log: a backup holds the keys of every secret.
    pub fn backup_bytes_for(&self, actor: &str) -> Result<(Vec<u8>, Summary)> {
        let (bytes, summary) = self.backup_bytes()?;
        self.audit_backup(&summary, actor, "the admin API")?;
        Ok((bytes, summary))
    }

    fn audit_backup(&self, summary: &Summary, actor: &str, to: &str) -> Result<()> {
        self.state()?.audit(crate::delivery::AuditEntry {
            id: 0,
            at: now_ms(),
            actor: actor.to_owned(),
            action: "state.backup".into(),
            subject: "state".into(),
            detail: serde_json::json!({
                "to": to,
                "entries": summary.entries,
                "components": summary.components,
                "keys": summary.keys,
            }),
        })?;
        Ok(())
    }

    /// A backup of this data folder, as the file holds it.
    pub fn backup_bytes(&self) -> Result<(Vec<u8>, Summary)> {
        let state = self.state()?;
        let mut out = Vec::new();
        let mut summary = Summary::default();
        let mut line = |line: &Line| -> anyhow::Result<()> {
            serde_json::to_writer(&mut out, line)?;
            out.push(b'\n');
            Ok(())
        };
        line(&Line::Header {
            tenon_backup: FORMAT,
            created_at: now_ms(),
        })?;
        state.dump(|tree, k, v| {
            summary.entries += 1;
            line(&Line::Entry {
                tree: tree.to_owned(),
                key: BASE64.encode(k),
                value: BASE64.encode(v),
            })
        })?;
        for (name, dir) in [
            ("components", self.data_dir().join("components")),
            ("secrets", state.keys_dir().join("secrets")),
        ] {
            for path in files(&dir)? {
                // Only finished files: a component is `<sha256>.wasm`.
                if name == "components" && path.extension().is_none_or(|e| e != "wasm") {
                    continue;
                }
                let data = std::fs::read(&path)
                    .with_context(|| format!("could not read {}", path.display()))?;
                let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                line(&Line::File {
                    file: format!("{name}/{file_name}"),
                    data: BASE64.encode(&data),
                })?;
                if name == "components" {
                    summary.components += 1;
                } else {
                    summary.keys += 1;
                }
            }
        }
        line(&Line::End {
            end: summary.clone(),
        })?;
        Ok((out, summary))
    }
}

/// Restores the backup `from` into `data_dir`, which must hold no state and
/// no components (created if missing); secrets' keys go to `keys` (default
/// `<data>/keys`). Refused, with nothing of the state written, when the file
/// is not a whole Tenon backup or a component does not match its name.
pub fn restore(from: &Path, data_dir: &Path, keys: Option<&Path>) -> Result<Summary> {
    let file = std::fs::File::open(from)
        .with_context(|| format!("could not open the backup {}", from.display()))?;
    let Contents {
        summary,
        entries,
        components,
        secrets,
    } = parse(std::io::BufReader::new(file), &from.display().to_string())?;

    // Only into an empty folder: a restore never merges into live state.
    let components_dir = data_dir.join("components");
    if files(&components_dir)?.next().is_some() {
        return Err(Error::Invalid(format!(
            "{} already holds components: restore into an empty data folder",
            data_dir.display()
        )));
    }
    private_dir(data_dir)?;
    private_dir(&components_dir)?;
    let keyring = Keyring::open(&keys.map_or_else(|| data_dir.join("keys"), Path::to_path_buf))?;
    let state = State::open(&data_dir.join("state"), keyring.clone())?;
    if !state.is_empty() {
        return Err(Error::Invalid(format!(
            "{} already holds state: restore into an empty data folder",
            data_dir.display()
        )));
    }
    for (name, data) in &secrets {
        write_private(&keyring.dir().join("secrets").join(name), data)?;
    }
    for (name, data) in &components {
        write_private(&components_dir.join(name), data)?;
    }
    for (tree, k, v) in &entries {
        state.load(tree, k, v)?;
    }
    state.flush()?;
    tracing::info!(file = %from.display(), entries = summary.entries, "Backup restored");
    Ok(summary)
}

/// Writes a backup made elsewhere (by a server, for `--server`) to `to`
/// (0600, replaced only once complete), once it is checked whole: a cut or
/// damaged answer leaves nothing behind.
pub fn save(bytes: &[u8], to: &Path) -> Result<Summary> {
    let contents = parse(bytes, "from the server")?;
    write_private(to, bytes)?;
    Ok(contents.summary)
}

/// What a backup file holds, checked whole.
#[derive(Default)]
struct Contents {
    summary: Summary,
    entries: Vec<(String, Vec<u8>, Vec<u8>)>,
    components: Vec<(String, Vec<u8>)>,
    secrets: Vec<(String, Vec<u8>)>,
}

/// Reads a backup file (`from` names it in errors) and checks it whole: the
/// header, every line, the components against their sha256, the counts
/// against the end line.
fn parse(text: impl std::io::BufRead, from: &str) -> Result<Contents> {
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.with_context(|| format!("could not read the backup {from}"))?;
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            Error::Invalid(format!(
                "{from} is not a Tenon backup: line {} does not read ({e})",
                n + 1
            ))
        })?;
        lines.push(parsed);
    }
    match lines.first() {
        Some(Line::Header { tenon_backup, .. }) if *tenon_backup == FORMAT => {}
        _ => {
            return Err(Error::Invalid(format!(
                "{from} is not a Tenon backup (format {FORMAT})"
            )));
        }
    }
    let Some(Line::End { end }) = lines.last() else {
        return Err(Error::Invalid(format!(
            "the backup {from} is cut short: it has no end line"
        )));
    };
    let expected = end.clone();
    let mut contents = Contents::default();
    let Contents {
        summary,
        entries,
        components,
        secrets,
    } = &mut contents;
    for line in &lines[1..lines.len() - 1] {
        match line {
            Line::Entry { tree, key, value } => {
                entries.push((tree.clone(), decode64(key)?, decode64(value)?));
                summary.entries += 1;
            }
            Line::File { file, data } => {
                let data = decode64(data)?;
                let (folder, name) = file.split_once('/').unwrap_or(("", file));
                if name.is_empty()
                    || Path::new(name).components().count() != 1
                    || !matches!(
                        Path::new(name).components().next(),
                        Some(Component::Normal(_))
                    )
                {
                    return Err(Error::Invalid(format!(
                        "the backup names a file `{file}` it may not"
                    )));
                }
                match folder {
                    "components" => {
                        let sha =
                            crate::record::hex(&<sha2::Sha256 as sha2::Digest>::digest(&data));
                        if name != format!("{sha}.wasm") {
                            return Err(Error::Invalid(format!(
                                "the backup's component `{name}` has sha256 {sha}: it was changed; nothing restored"
                            )));
                        }
                        components.push((name.to_owned(), data));
                        summary.components += 1;
                    }
                    "secrets" => {
                        secrets.push((name.to_owned(), data));
                        summary.keys += 1;
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "the backup names a file `{file}` it may not"
                        )));
                    }
                }
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "the backup {from} has a header or end line in its middle"
                )));
            }
        }
    }
    if *summary != expected {
        return Err(Error::Invalid(format!(
            "the backup {from} holds {summary:?} where its end line says {expected:?}: it is damaged; nothing restored",
        )));
    }
    Ok(contents)
}

fn decode64(text: &str) -> Result<Vec<u8>> {
    BASE64
        .decode(text)
        .map_err(|e| Error::Invalid(format!("the backup holds bytes that do not decode: {e}")))
}

/// The files directly in `dir` (none if it does not exist), in name order.
fn files(dir: &Path) -> Result<std::vec::IntoIter<PathBuf>> {
    let mut paths = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry
                    .with_context(|| format!("could not read {}", dir.display()))?
                    .path();
                if path.is_file() {
                    paths.push(path);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("could not read {}", dir.display()))
                .into());
        }
    }
    paths.sort();
    Ok(paths.into_iter())
}
