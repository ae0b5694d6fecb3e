//! Signatures of Tenon plugin components: an author signs a component with an
//! ed25519 key; the host installs it only when it trusts that key, and binds the
//! plugin's name to it.
//!
//! The signature travels inside the `.wasm`, as its last top-level section: a
//! custom section named [`SECTION`] whose content is
//! `{"v":1,"key":"<base64 public key>","signature":"<base64 signature>"}`. What
//! is signed is `tenon-signature-v1\n` followed by the SHA-256 of the component
//! without that section (its [`digest`]), so the signature covers every other
//! byte, custom sections included. Signing again replaces the section.
//!
//! Keys are text files: a secret key `tenon-ed25519-secret:<base64 seed>` (keep
//! it private), a public key `tenon-ed25519:<base64 key>`. A key's id is the
//! first 16 hex digits of the SHA-256 of the public key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use wasmparser::BinaryReader;

/// The name of the custom section that holds the signature.
pub const SECTION: &str = "tenon-signature";

/// What precedes the digest in the signed message.
const DOMAIN: &[u8] = b"tenon-signature-v1\n";

const PUBLIC_PREFIX: &str = "tenon-ed25519:";
const SECRET_PREFIX: &str = "tenon-ed25519-secret:";

/// Why a component or key could not be signed, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("not a WebAssembly file: {0}")]
    NotWasm(String),
    #[error("the signature section is not the component's last section")]
    NotLast,
    #[error("the component carries more than one signature section")]
    Twice,
    #[error("the signature section is malformed: {0}")]
    Malformed(String),
    #[error(
        "the signature does not verify: the component changed after it was signed, or the signature is not of this key"
    )]
    Invalid,
    #[error("not a Tenon key: {0}")]
    Key(String),
}

/// A publisher's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The first 16 hex digits of the SHA-256 of the key.
    pub fn id(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// The key as text: `tenon-ed25519:<base64>`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }

    /// A key from its text (surrounding whitespace ignored).
    pub fn from_text(text: &str) -> Result<PublicKey, SignError> {
        let encoded = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| SignError::Key(format!("a public key starts with `{PUBLIC_PREFIX}`")))?;
        Self::from_bytes(&decode(encoded)?)
    }

    fn from_bytes(bytes: &[u8]) -> Result<PublicKey, SignError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SignError::Key("an ed25519 public key is 32 bytes".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| SignError::Key(format!("not an ed25519 public key: {e}")))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// An author's secret key.
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl SecretKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<SecretKey, SignError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| SignError::Key(format!("no randomness: {e}")))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key as text: `tenon-ed25519-secret:<base64 seed>`.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(self.0.to_bytes()))
    }

    /// A key from its text (surrounding whitespace ignored).
    pub fn from_text(text: &str) -> Result<SecretKey, SignError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| SignError::Key(format!("a secret key starts with `{SECRET_PREFIX}`")))?;
        let seed: [u8; 32] = decode(encoded)?
            .try_into()
            .map_err(|_| SignError::Key("an ed25519 secret key is 32 bytes".into()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
}

/// The content of the signature section.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionBody {
    v: u32,
    key: String,
    signature: String,
}

/// A verified signature: who signed, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub key: PublicKey,
    /// The SHA-256 of the component without its signature section, hex.
    pub digest: String,
}

/// A top-level section of a component: its id and the byte ranges of the
/// whole section and of its content.
struct Section {
    id: u8,
    start: usize,
    content: std::ops::Range<usize>,
}

/// The top-level sections of `wasm`, after its 8-byte header.
fn sections(wasm: &[u8]) -> Result<Vec<Section>, SignError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(SignError::NotWasm(
            "it does not start with the `\\0asm` magic number".into(),
        ));
    }
    let bad = |e: wasmparser::BinaryReaderError| SignError::NotWasm(e.to_string());
    let mut reader = BinaryReader::new(&wasm[8..], 8);
    let mut sections = Vec::new();
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().map_err(bad)?;
        let len = reader.read_var_u32().map_err(bad)? as usize;
        let begin = reader.original_position();
        reader.read_bytes(len).map_err(bad)?;
        sections.push(Section {
            id,
            start,
            content: begin..begin + len,
        });
    }
    Ok(sections)
}

/// The name and data of a custom section's content.
fn custom(content: &[u8], offset: usize) -> Option<(&str, &[u8])> {
    let mut reader = BinaryReader::new(content, offset);
    let name = reader.read_string().ok()?;
    let at = reader.original_position() - offset;
    Some((name, &content[at..]))
}

/// Where the signature section of `wasm` is, if it has one: the start of the
/// section and its data. It must be the last section, and the only one.
fn signature_section(wasm: &[u8]) -> Result<Option<(usize, &[u8])>, SignError> {
    let sections = sections(wasm)?;
    let found: Vec<(usize, usize, &[u8])> = sections
        .iter()
        .enumerate()
        .filter(|(_, section)| section.id == 0)
        .filter_map(|(i, section)| {
            let (name, data) = custom(&wasm[section.content.clone()], section.content.start)?;
            (name == SECTION).then_some((i, section.start, data))
        })
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [(i, start, data)] if i + 1 == sections.len() => Ok(Some((*start, *data))),
        [_] => Err(SignError::NotLast),
        _ => Err(SignError::Twice),
    }
}

/// `wasm` without its signature section, if it has one.
fn unsigned(wasm: &[u8]) -> Result<&[u8], SignError> {
    Ok(match signature_section(wasm)? {
        Some((start, _)) => &wasm[..start],
        None => wasm,
    })
}

/// The SHA-256 of `wasm` without its signature section, hex: what a signature
/// covers, the same for every signature of the same component.
pub fn digest(wasm: &[u8]) -> Result<String, SignError> {
    Ok(hex(&Sha256::digest(unsigned(wasm)?)))
}

fn message(digest: &str) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(digest.as_bytes());
    message
}

/// `wasm` signed with `key`: an earlier signature section is replaced.
pub fn sign(wasm: &[u8], key: &SecretKey) -> Result<Vec<u8>, SignError> {
    let body = unsigned(wasm)?;
    let digest = hex(&Sha256::digest(body));
    let signature = key.0.sign(&message(&digest));
    let content = serde_json::to_string(&SectionBody {
        v: 1,
        key: BASE64.encode(key.public().0.as_bytes()),
        signature: BASE64.encode(signature.to_bytes()),
    })
    .expect("the section serialises");
    let mut section = Vec::new();
    leb128(SECTION.len() as u64, &mut section);
    section.extend_from_slice(SECTION.as_bytes());
    section.extend_from_slice(content.as_bytes());
    let mut signed = body.to_vec();
    signed.push(0);
    leb128(section.len() as u64, &mut signed);
    signed.extend_from_slice(&section);
    Ok(signed)
}

/// The signature of `wasm`, verified against the key it names; `None` when it
/// carries none. Whether that key is trusted is the caller's decision.
pub fn verify(wasm: &[u8]) -> Result<Option<Signed>, SignError> {
    let Some((start, data)) = signature_section(wasm)? else {
        return Ok(None);
    };
    let body: SectionBody =
        serde_json::from_slice(data).map_err(|e| SignError::Malformed(e.to_string()))?;
    if body.v != 1 {
        return Err(SignError::Malformed(format!(
            "version {} of the signature section is not known",
            body.v
        )));
    }
    let field = |text: &str| decode(text);
    let key = PublicKey::from_bytes(&field(&body.key)?)?;
    let signature: [u8; 64] = field(&body.signature)?
        .try_into()
        .map_err(|_| SignError::Malformed("an ed25519 signature is 64 bytes".into()))?;
    let digest = hex(&Sha256::digest(&wasm[..start]));
    key.0
        .verify(&message(&digest), &Signature::from_bytes(&signature))
        .map_err(|_| SignError::Invalid)?;
    Ok(Some(Signed { key, digest }))
}

/// Makes a new key: `path` gets the secret key (mode 0600, never replaced),
/// `<path>.pub` the public key. Returns the public key and its file.
pub fn keygen_files(path: &Path) -> Result<(PublicKey, PathBuf), String> {
    let key = SecretKey::generate().map_err(|e| e.to_string())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("could not create {}: {e}", path.display()))?;
    writeln!(file, "{}", key.to_text())
        .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = PathBuf::from(public);
    std::fs::write(&public, format!("{}\n", key.public()))
        .map_err(|e| format!("could not write {}: {e}", public.display()))?;
    Ok((key.public(), public))
}

/// Signs the component in `component` with the secret key in `key`, writing
/// the signed component to `out` (or over `component`). Returns the key.
pub fn sign_file(key: &Path, component: &Path, out: Option<&Path>) -> Result<PublicKey, String> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| format!("could not read key {}: {e}", key.display()))?;
    let key = SecretKey::from_text(&text).map_err(|e| format!("{}: {e}", key.display()))?;
    let wasm = std::fs::read(component)
        .map_err(|e| format!("could not read {}: {e}", component.display()))?;
    let signed = sign(&wasm, &key).map_err(|e| format!("{}: {e}", component.display()))?;
    let out = out.unwrap_or(component);
    std::fs::write(out, signed).map_err(|e| format!("could not write {}: {e}", out.display()))?;
    Ok(key.public())
}

fn leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn decode(text: &str) -> Result<Vec<u8>, SignError> {
    BASE64
        .decode(text.trim())
        .map_err(|e| SignError::Key(format!("not base64: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the header, and one custom section.
    fn component() -> Vec<u8> {
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.extend_from_slice(&[0, 4, 3, b'a', b'b', b'c']);
        wasm
    }

    #[test]
    fn a_signed_component_verifies_until_a_byte_changes() {
        let key = SecretKey::generate().unwrap();
        let wasm = component();
        assert_eq!(verify(&wasm).unwrap(), None);
        let signed = sign(&wasm, &key).unwrap();
        let found = verify(&signed).unwrap().unwrap();
        assert_eq!(found.key, key.public());
        assert_eq!(found.digest, digest(&wasm).unwrap());
        assert_eq!(digest(&signed).unwrap(), digest(&wasm).unwrap());
        // Signing again replaces the signature.
        let again = sign(&signed, &SecretKey::generate().unwrap()).unwrap();
        assert_ne!(verify(&again).unwrap().unwrap().key, key.public());
        let mut changed = signed.clone();
        changed[12] = b'x';
        assert_eq!(verify(&changed), Err(SignError::Invalid));
    }

    #[test]
    fn a_signature_must_be_last_and_alone() {
        let key = SecretKey::generate().unwrap();
        let signed = sign(&component(), &key).unwrap();
        let mut after = signed.clone();
        after.extend_from_slice(&[0, 2, 1, b'z']);
        assert_eq!(verify(&after), Err(SignError::NotLast));
        let tail = signed[component().len()..].to_vec();
        let mut twice = signed.clone();
        twice.extend_from_slice(&tail);
        assert_eq!(verify(&twice), Err(SignError::Twice));
    }

    #[test]
    fn keys_round_trip_as_text() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::from_text(&format!("{}\n", key.public())).unwrap();
        assert_eq!(public.id().len(), 16);
        assert!(PublicKey::from_text("ssh-ed25519 AAAA").is_err());
    }
}
