//! The state folder always opens, or says why not: a snapshot file sled 0.34
//! left unfinished (a kill or a full disk while writing it) is removed and
//! logged, a folder another process holds is refused with a message naming
//! that and `--server`, and a damaged entry names its tree, key and cause.

mod support;

use std::path::Path;
use support::{code, stderr, tenon, tenon_command};
use tenon::Tenon;

/// A folder with a tenant in it, its host closed again.
fn folder_with_a_tenant() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tenon = Tenon::open(dir.path()).unwrap();
    tenon.create_tenant("acme", "test").unwrap();
    drop(tenon);
    dir
}

/// Leaves what a process killed while sled wrote a snapshot leaves: an empty
/// `snap.*.generating`, which sled would take for the newest snapshot.
fn unfinished_snapshot(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("state").join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&path, b"").unwrap();
    path
}

#[tokio::test]
async fn an_unfinished_snapshot_is_removed_and_everything_is_still_there() {
    let dir = folder_with_a_tenant();
    let snapshot = unfinished_snapshot(dir.path());

    let out = tenon_command(dir.path())
        .args(["tenant", "list"])
        .env("TENON_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme"));
    assert!(
        stderr(&out).contains("Removed an unfinished state snapshot"),
        "the removal is logged: {}",
        stderr(&out)
    );
    assert!(!snapshot.exists());
    // And it keeps opening.
    let tenon = Tenon::open(dir.path()).unwrap();
    assert_eq!(tenon.tenants().unwrap().len(), 1);
}

#[tokio::test]
async fn a_folder_in_use_is_refused_with_the_reason_and_its_files_are_left_alone() {
    let dir = folder_with_a_tenant();
    let holder = Tenon::open(dir.path()).unwrap();
    let snapshot = unfinished_snapshot(dir.path());

    let out = tenon(dir.path(), &["tenant", "list"]).await;
    assert_ne!(code(&out), 0);
    let message = stderr(&out);
    assert!(
        message.contains("in use by another `tenon` process") && message.contains("--server"),
        "{message}"
    );
    assert!(
        snapshot.exists(),
        "a snapshot the holder may be writing is not touched"
    );
    // Without such a file, sled's own lock says the same.
    std::fs::remove_file(&snapshot).unwrap();
    let out = tenon(dir.path(), &["tenant", "list"]).await;
    assert!(
        stderr(&out).contains("in use by another `tenon` process"),
        "{}",
        stderr(&out)
    );
    drop(holder);
}
