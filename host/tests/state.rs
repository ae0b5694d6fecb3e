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

#[tokio::test]
async fn state_check_finds_nothing_in_a_sound_folder_and_names_a_changed_component() {
    let dir = tempfile::tempdir().unwrap();
    support::tenon_ok(dir.path(), &["plugin", "install", "--bundled"]).await;
    support::tenon_ok(dir.path(), &["tenant", "create", "acme"]).await;
    let sound = support::tenon_ok(dir.path(), &["state", "check"]).await;
    assert!(sound.contains("no problem found"), "{sound}");

    // One byte of one component file changes behind Tenon's back.
    let component = std::fs::read_dir(dir.path().join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .unwrap();
    let mut bytes = std::fs::read(&component).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&component, &bytes).unwrap();
    let out = tenon(dir.path(), &["state", "check"]).await;
    assert_eq!(code(&out), 1);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("1 problem(s)") && report.contains("it was changed"),
        "{report}"
    );
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_folder_whole_and_a_damaged_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    support::tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    support::tenon_ok(&data, &["tenant", "create", "acme"]).await;
    support::tenon_ok(
        &data,
        &[
            "enable",
            "acme",
            "demo-ledger",
            "--config",
            "base_url=http://127.0.0.1:9",
            "--secret",
            "api_token=ledger-secret-value",
            "--secret-host",
            "api_token=127.0.0.1:9",
            "--grant",
            "127.0.0.1:9",
        ],
    )
    .await;
    let file = dir.path().join("tenon.backup");
    let written = support::tenon_ok(&data, &["state", "backup", file.to_str().unwrap()]).await;
    assert!(written.contains("Backup written"), "{written}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Into an empty folder: everything is there, and the secret still opens.
    let copy = dir.path().join("copy");
    let restored = support::tenon_ok(&copy, &["state", "restore", file.to_str().unwrap()]).await;
    assert!(restored.contains("Restored"), "{restored}");
    let check = support::tenon_ok(&copy, &["state", "check"]).await;
    assert!(check.contains("no problem found"), "{check}");
    let tenants = support::tenon_ok(&copy, &["tenant", "list"]).await;
    assert!(tenants.contains("acme"), "{tenants}");
    let plugins = support::tenon_ok(&copy, &["plugin", "list"]).await;
    assert!(plugins.contains("demo-ledger"), "{plugins}");

    // Not into a folder that holds state.
    let out = tenon(&copy, &["state", "restore", file.to_str().unwrap()]).await;
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("empty data folder"),
        "{}",
        stderr(&out)
    );

    // A cut backup is refused before anything is written.
    let text = std::fs::read_to_string(&file).unwrap();
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let empty = dir.path().join("empty");
    let out = tenon(&empty, &["state", "restore", cut.to_str().unwrap()]).await;
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("not a Tenon backup") || stderr(&out).contains("cut short"),
        "{}",
        stderr(&out)
    );
    assert!(
        !empty.join("state").exists(),
        "nothing was written for a refused backup"
    );
}

/// A backup of a running server through its admin API, while its flow commits
/// batch after batch: the operator's token gets the file (0600), a tenant's is
/// refused and nothing is written. The file is the state of one instant: once
/// restored, the runs it holds read exactly the records before its cursor, so
/// a run from the restored folder reads the rest and no record is counted
/// twice or lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_server_hands_out_a_backup_of_one_instant() {
    use tenon_sandboxes::{Ledger, Shop, demo_orders};
    const ORDERS: u64 = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shop = Shop::start(support::SHOP_TOKEN, demo_orders(ORDERS as usize))
        .await
        .unwrap();
    let ledger = Ledger::start(support::LEDGER_TOKEN).await.unwrap();
    support::tenon_ok(&data, &["plugin", "install", "--bundled"]).await;
    support::configure(
        &data,
        "acme",
        &shop,
        &ledger,
        &["--every", "1s", "--batch-size", "5"],
    )
    .await;
    let config = dir.path().join("tenon.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[scheduler]\ntick = \"100ms\"\n\n{}\n[[token]]\nname = \"acme-portal\"\nrole = \"tenant\"\ntenant = \"acme\"\nsecret = \"acme-portal-token-0123456789\"\n",
            support::operator_token()
        ),
    )
    .unwrap();
    let served =
        support::Served::start(&data, &["serve", "--config", config.to_str().unwrap()]).await;
    support::eventually(
        "the first batches",
        std::time::Duration::from_secs(30),
        || !ledger.sales_orders().is_empty(),
    )
    .await;

    // A tenant's token may not take the tenants' secrets.
    let refused = dir.path().join("refused.backup");
    let out = tenon(
        &data,
        &[
            "--server",
            &served.url,
            "--token",
            "acme-portal-token-0123456789",
            "state",
            "backup",
            refused.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("operator"), "{}", stderr(&out));
    assert!(!refused.exists());

    let file = dir.path().join("online.backup");
    let written = support::tenon_ok(
        &data,
        &[
            "--server",
            &served.url,
            "--token",
            support::OPERATOR_TOKEN,
            "state",
            "backup",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(written.contains("Backup written"), "{written}");
    let in_ledger_then = ledger.sales_orders().len();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (status, _) = served.terminate(std::time::Duration::from_secs(30)).await;
    assert!(status.success());
    // Who took it is on record (in the folder; the backup predates the entry).
    let audit = support::tenon_ok(&data, &["audit"]).await;
    assert!(
        audit.contains("state.backup") && audit.contains("ops"),
        "{audit}"
    );

    let copy = dir.path().join("copy");
    support::tenon_ok(&copy, &["state", "restore", file.to_str().unwrap()]).await;
    let check = support::tenon_ok(&copy, &["state", "check"]).await;
    assert!(check.contains("no problem found"), "{check}");
    let read_before: u64 = support::runs(&copy, "acme")
        .await
        .iter()
        .map(|run| run["records_read"].as_u64().unwrap())
        .sum();
    let run = support::tenon_ok(&copy, &["--json", "flow", "run", "acme", "orders-to-erp"]).await;
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    let read_after = run["records_read"].as_u64().unwrap();
    println!(
        "backup taken with {read_before} of {ORDERS} orders committed ({in_ledger_then} in the \
         ledger); the restored folder's run read {read_after}"
    );
    assert_eq!(
        read_before + read_after,
        ORDERS,
        "the backup's runs and its cursor disagree"
    );
    assert_eq!(ledger.sales_orders().len(), ORDERS as usize);
}
