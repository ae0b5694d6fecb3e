//! The host's keys, kept in files outside the state database (`<data>/keys` by
//! default, `--keys DIR` or `TENON_KEYS` to keep them elsewhere), 0700 and 0600:
//!
//! - `cache.key`: the key of the MAC each compile cache entry carries, so an
//!   entry changed on disk is never loaded;
//! - `secrets/<id>.key`: one key per enablement's secrets. The secrets are
//!   sealed with it (ChaCha20-Poly1305, bound to the tenant and plugin) before
//!   they reach the database, and the key file is overwritten and removed when
//!   the enablement is disabled or its secrets replaced. What the database may
//!   still hold of old values (sled keeps old versions until it compacts) can
//!   then never be opened again.
//!
//! Owns key files and sealing; what is sealed is [`crate::state`]'s business.

use anyhow::Context as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The keys of a data folder.
#[derive(Debug, Clone)]
pub struct Keyring {
    dir: PathBuf,
}

/// Secrets as the database holds them: sealed with the key `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The name of the key file in `secrets/`.
    pub key: String,
    /// 12 bytes, hex.
    pub nonce: String,
    /// Hex.
    pub ciphertext: String,
}

/// Creates `dir` (and its parents) with mode 0700, and makes it 0700 if it
/// exists.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("could not create folder {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not make folder {} private", dir.display()))
}

/// Writes `bytes` to a new file `path` only its owner may read, replacing it
/// atomically (written beside it, synced, then renamed).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("could not write {}", path.display()))
}

/// Makes every folder under `dir` 0700 and every file 0600: a data folder
/// created by an older version, or by a process with a looser umask, is
/// tightened when it is opened.
pub fn tighten(dir: &Path) -> anyhow::Result<()> {
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("could not make {} private", path.display()))
    };
    mode(dir, 0o700)?;
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("could not read {}", dir.display()))?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten(&entry.path())?;
        } else if kind.is_file() {
            mode(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes)
}

fn read_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read key {}", path.display()))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("key {} is damaged: it is not 32 bytes", path.display()))
}

/// What a seal is bound to: secrets sealed for one enablement do not open as
/// another's.
fn aad(tenant: &str, plugin: &str) -> Vec<u8> {
    format!("tenon-secrets\0{tenant}\0{plugin}").into_bytes()
}

impl Keyring {
    /// The keys in `dir`, created 0700 if missing.
    pub fn open(dir: &Path) -> anyhow::Result<Keyring> {
        private_dir(dir)?;
        private_dir(&dir.join("secrets"))?;
        Ok(Keyring {
            dir: dir.to_owned(),
        })
    }

    /// The folder of the keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of the compile cache's MACs, made on first use.
    pub fn cache_key(&self) -> anyhow::Result<[u8; 32]> {
        let path = self.dir.join("cache.key");
        if !path.exists() {
            write_private(&path, &random::<32>()?)?;
        }
        read_key(&path)
    }

    fn secret_key(&self, id: &str) -> PathBuf {
        self.dir.join("secrets").join(format!("{id}.key"))
    }

    /// Seals `plaintext` for (`tenant`, `plugin`) with a new key of its own.
    pub fn seal(&self, tenant: &str, plugin: &str, plaintext: &[u8]) -> anyhow::Result<Sealed> {
        let id = crate::record::hex(&random::<16>()?);
        let key = random::<32>()?;
        write_private(&self.secret_key(&id), &key)?;
        let nonce = random::<12>()?;
        let ciphertext = ChaCha20Poly1305::new(Key::from_slice(&key))
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad(tenant, plugin),
                },
            )
            .map_err(|_| anyhow::anyhow!("could not seal the secrets of {tenant}/{plugin}"))?;
        Ok(Sealed {
            key: id,
            nonce: crate::record::hex(&nonce),
            ciphertext: crate::record::hex(&ciphertext),
        })
    }

    /// Opens what [`Keyring::seal`] sealed for (`tenant`, `plugin`).
    pub fn unseal(&self, tenant: &str, plugin: &str, sealed: &Sealed) -> anyhow::Result<Vec<u8>> {
        if !is_key_id(&sealed.key) {
            anyhow::bail!("the secrets of {tenant}/{plugin} name an invalid key");
        }
        let key = read_key(&self.secret_key(&sealed.key)).with_context(|| {
            format!("the key of the secrets of {tenant}/{plugin} is missing: enable the plugin again with its secrets")
        })?;
        let nonce = unhex(&sealed.nonce).filter(|n| n.len() == 12);
        let ciphertext = unhex(&sealed.ciphertext);
        let (Some(nonce), Some(ciphertext)) = (nonce, ciphertext) else {
            anyhow::bail!("the sealed secrets of {tenant}/{plugin} are damaged");
        };
        ChaCha20Poly1305::new(Key::from_slice(&key))
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(tenant, plugin),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the sealed secrets of {tenant}/{plugin} do not open: damaged, or not theirs"
                )
            })
    }

    /// Destroys key `id`: overwritten, synced, removed. What it sealed can
    /// never be opened again.
    pub fn shred(&self, id: &str) -> anyhow::Result<()> {
        if !is_key_id(id) {
            return Ok(());
        }
        let path = self.secret_key(id);
        if path.exists() {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("could not open key {}", path.display()))?;
            file.write_all(&[0u8; 32])?;
            file.sync_all()?;
            std::fs::remove_file(&path)
                .with_context(|| format!("could not remove key {}", path.display()))?;
        }
        Ok(())
    }

    /// Destroys every secrets key but those in `keep`: a crash between sealing
    /// new secrets and destroying the old key leaves it behind until then.
    pub fn shred_all_but(&self, keep: &BTreeSet<String>) -> anyhow::Result<usize> {
        let mut shredded = 0;
        let dir = self.dir.join("secrets");
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("could not read {}", dir.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".key") else {
                continue;
            };
            if !keep.contains(id) {
                self.shred(id)?;
                shredded += 1;
            }
        }
        Ok(shredded)
    }
}

fn is_key_id(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_for_their_enablement_until_their_key_is_shredded() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::open(dir.path()).unwrap();
        let sealed = keys.seal("acme", "demo-shop", b"s3cret-token").unwrap();
        assert!(!sealed.ciphertext.contains(&crate::record::hex(b"s3cret")));
        assert_eq!(
            keys.unseal("acme", "demo-shop", &sealed).unwrap(),
            b"s3cret-token"
        );
        assert!(keys.unseal("globex", "demo-shop", &sealed).is_err());
        keys.shred(&sealed.key).unwrap();
        let gone = keys.unseal("acme", "demo-shop", &sealed).unwrap_err();
        assert!(format!("{gone:#}").contains("missing"), "{gone:#}");
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
