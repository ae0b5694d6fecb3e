//! The `tenon` binary as a script sees it: exit codes, messages, `--json` output,
//! and a whole operator session against the loopback vendor sandboxes.

use std::path::Path;
use std::process::Output;
use tenon_sandboxes::{Ledger, Shop, demo_orders};

fn tenon(data: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenon"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TENON_DATA")
        .env_remove("TENON_LOG")
        .output()
        .expect("tenon runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn exit_codes_and_messages_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let out = tenon(data, &["plugin", "install", garbage.to_str().unwrap()]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a WebAssembly file"),
        "{}",
        stderr(&out)
    );

    let out = tenon(data, &["plugin", "install", "/no/such/file.wasm"]);
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("could not read `/no/such/file.wasm`"),
        "{}",
        stderr(&out)
    );

    let out = tenon(data, &["tenant", "create", "acme"]);
    assert_eq!(
        (code(&out), stdout(&out).trim()),
        (0, "Tenant `acme` created.")
    );
    let out = tenon(data, &["tenant", "create", "acme"]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("tenant `acme` already exists"));
    let out = tenon(data, &["tenant", "create", "Bad Name"]);
    assert_eq!(code(&out), 4);

    let out = tenon(data, &["flow", "run", "acme", "nope"]);
    assert_eq!(code(&out), 3);
    assert_eq!(stderr(&out).trim(), "error: flow `acme/nope` not found");
    let out = tenon(data, &["disable", "ghost", "demo-shop"]);
    assert_eq!(code(&out), 3);

    let out = tenon(data, &["flow", "frobnicate"]);
    assert_eq!(code(&out), 2, "usage errors exit 2");

    let out = tenon(data, &["--json", "plugin", "list"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_session_moves_records_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let shop = Shop::start("shop-token", demo_orders(12)).await.unwrap();
    let ledger = Ledger::start("ledger-token").await.unwrap();
    let secret_file = dir.path().join("ledger.secret");
    std::fs::write(&secret_file, "ledger-token\n").unwrap();
    let (shop_url, shop_addr) = (shop.base_url(), shop.addr().to_string());
    let (ledger_url, ledger_addr) = (ledger.base_url(), ledger.addr().to_string());

    let session = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            let out = tenon(&data, args);
            assert_eq!(code(&out), 0, "tenon {args:?}: {}", stderr(&out));
            stdout(&out)
        };
        let installed = run(&["plugin", "install", "--bundled"]);
        assert_eq!(
            installed.lines().count(),
            tenon::bundled::PLUGINS.len(),
            "{installed}"
        );
        let inspect = run(&["plugin", "inspect", "demo-shop"]);
        assert!(
            inspect.contains("orders (read, cursor on `updated_at`)"),
            "{inspect}"
        );
        assert!(
            inspect.contains("api_token (required, bearer)"),
            "{inspect}"
        );
        assert!(
            inspect.contains("webhook_secret (optional, hmac (never sent))"),
            "{inspect}"
        );
        assert!(inspect.contains("base_url (required)"), "{inspect}");

        run(&["tenant", "create", "acme"]);
        let base = format!("base_url={shop_url}");
        run(&[
            "enable",
            "acme",
            "demo-shop",
            "--config",
            &base,
            "--secret",
            "api_token=shop-token",
            "--secret-host",
            &format!("api_token={shop_addr}"),
            "--grant",
            &shop_addr,
        ]);
        run(&["enable", "acme", "order-to-sale"]);
        let base = format!("base_url={ledger_url}");
        let secret = format!("api_token={}", secret_file.display());
        let enabled = run(&[
            "--json",
            "enable",
            "acme",
            "demo-ledger",
            "--config",
            &base,
            "--secret-file",
            &secret,
            "--secret-host",
            &format!("api_token={ledger_addr}"),
            "--grant",
            &ledger_addr,
            "--timeout-ms",
            "5000",
        ]);
        assert!(
            !enabled.contains("ledger-token"),
            "secrets are never printed: {enabled}"
        );
        let enabled: serde_json::Value = serde_json::from_str(&enabled).unwrap();
        assert_eq!(enabled["secrets"], serde_json::json!(["api_token"]));
        assert_eq!(enabled["limits"]["timeout_ms"], 5000);

        let check = run(&["check", "acme", "demo-shop"]);
        assert!(check.contains("reaches its vendor"), "{check}");
        let preview = run(&["preview", "acme", "demo-shop", "orders", "--limit", "2"]);
        assert!(preview.contains("2 record(s)"), "{preview}");

        run(&[
            "flow",
            "add",
            "acme",
            "orders-to-erp",
            "--from",
            "demo-shop:orders",
            "--via",
            "order-to-sale",
            "--to",
            "demo-ledger:sale-orders",
            "--batch-size",
            "5",
        ]);
        let first = run(&["flow", "run", "acme", "orders-to-erp"]);
        assert!(
            first.contains("succeeded: 12 read, 12 written in 3 batch(es)"),
            "{first}"
        );
        let second = run(&["flow", "run", "acme", "orders-to-erp"]);
        assert!(second.contains("succeeded: 0 read, 0 written"), "{second}");
        let flows = run(&["flow", "list"]);
        assert!(
            flows.contains("demo-shop:orders") && !flows.contains("  -\n"),
            "cursor shown: {flows}"
        );
        let runs: serde_json::Value =
            serde_json::from_str(&run(&["--json", "runs", "list", "--tenant", "acme"])).unwrap();
        assert_eq!(runs.as_array().unwrap().len(), 2);
        assert_eq!(runs[1]["records_written"], 12);

        // A disabled plugin's next run fails with exit code 5 and says why.
        run(&["disable", "acme", "demo-shop"]);
        let out = tenon(&data, &["flow", "run", "acme", "orders-to-erp"]);
        assert_eq!(code(&out), 5);
        assert!(
            stderr(&out).contains("plugin `demo-shop` is not enabled for tenant `acme`"),
            "{}",
            stderr(&out)
        );
        let out = tenon(&data, &["plugin", "remove", "demo-ledger"]);
        assert_eq!(code(&out), 4, "an enabled plugin cannot be removed");
        run(&["plugin", "remove", "demo-shop"]);
    });
    session.await.unwrap();
    assert_eq!(ledger.sales_orders().len(), 12);
}

/// The README's first command: three systems, four flows, every pair agreeing,
/// money going back as a credit note.
#[test]
fn the_demo_runs_a_scenario_across_three_systems_that_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let out = tenon(dir.path(), &["demo"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    for line in [
        "orders-to-erp: Run 1 of `orders-to-erp` succeeded: 25 read, 25 written in 3 batch(es)",
        "orders-to-3pl: Run 2 of `orders-to-3pl` succeeded: 25 read, 25 written in 3 batch(es)",
        "parcels: Run 3 of `parcels` succeeded: 3 read, 3 written",
        "Shop order 1002 parcel F-000001: ups 1Z100201",
        "Shop order 1002 parcel F-000002: ups 1Z100202",
        "orders-to-erp: Run 4 of `orders-to-erp` succeeded: 2 read, 2 written",
        "orders-to-3pl: Run 5 of `orders-to-3pl` succeeded: 2 read, 2 written",
        "At the warehouse, order 1001 is cancelled and order 9001 is awaiting_shipment.",
        "refunds-to-erp: Run 7 of `refunds-to-erp` succeeded: 0 read, 0 written",
        "the shop refunds",
        "refunds-to-erp: Run 8 of `refunds-to-erp` succeeded: 1 read, 1 written",
        "Ledger credit note CN-000001 credits sales order SO-000002 (shop:1002):",
        "orders-to-erp: Run 9 of `orders-to-erp` succeeded: 0 read, 0 written",
        "refunds-to-erp: Run 12 of `refunds-to-erp` succeeded: 0 read, 0 written",
        "orders-to-erp: 26 source records, 26 held, 26 matching, 0 missing, 0 extra, 0 different.",
        "orders-to-3pl: 26 source records, 26 held, 26 matching, 0 missing, 0 extra, 0 different.",
        "parcels: 3 source records, 3 held, 3 matching, 0 missing, 0 extra, 0 different.",
        "refunds-to-erp: 1 source records, 1 held, 1 matching, 0 missing, 0 extra, 0 different.",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // The refund's amount, as the shop gave it and as the ledger credited it.
    let money = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Money back: "))
        .unwrap_or_else(|| panic!("no money-back line in:\n{text}"));
    let figures: Vec<u64> = money
        .split(' ')
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(
        figures.len() == 2 && figures[0] == figures[1] && figures[0] > 0,
        "{money}"
    );
    // The demo's state stays for a look around.
    let runs = tenon(&dir.path().join("demo"), &["runs", "list"]);
    assert_eq!(code(&runs), 0, "{}", stderr(&runs));
    assert!(stdout(&runs).contains("parcels"), "{}", stdout(&runs));
}

#[test]
fn the_sandbox_command_serves_the_vendor_apis_until_stopped() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenon"))
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "sandbox",
            "--shop",
            "127.0.0.1:0",
            "--ledger",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // One line per sandbox: shop, ledger, PIM, 3PL, Magento.
    let printed: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
    let url_of = |name: &str| {
        let line = printed
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` line: {printed:?}"));
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in `{line}`"))
            .to_owned()
    };
    let (shop, magento) = (url_of("Shop sandbox"), url_of("Magento sandbox"));
    let get = |url: String, token: &str| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let answer = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&answer.bytes().await.unwrap())
                    .unwrap_or_default(),
            )
        })
    };
    let orders = format!("{shop}/api/orders?limit=1");
    assert_eq!(get(orders.clone(), "shop-token").0, 200);
    assert_eq!(get(orders, "wrong").0, 401);
    // Magento's REST API with the integration token, its demo orders.
    let searched = format!("{magento}/V1/orders?searchCriteria[pageSize]=1");
    let (status, body) = get(searched.clone(), "magento-token");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_count"], 3, "{body}");
    assert_eq!(get(searched, "wrong").0, 401);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs `tenon` off the async runtime (the vendor sandboxes live on it).
async fn tenon_async(data: &Path, args: &[&str]) -> Output {
    let data = data.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tenon(&data, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_reconcile_and_the_id_map_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let shop = Shop::start("shop-token", demo_orders(6)).await.unwrap();
    let ledger = Ledger::start("ledger-token").await.unwrap();
    let ok = async |args: &[&str]| {
        let out = tenon_async(data, args).await;
        assert_eq!(
            code(&out),
            0,
            "tenon {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    ok(&["plugin", "install", "--bundled"]).await;
    ok(&["tenant", "create", "acme"]).await;
    let (shop_url, ledger_url) = (
        format!("base_url={}", shop.base_url()),
        format!("base_url={}", ledger.base_url()),
    );
    let (shop_addr, ledger_addr) = (shop.addr().to_string(), ledger.addr().to_string());
    ok(&[
        "enable",
        "acme",
        "demo-shop",
        "--config",
        &shop_url,
        "--secret",
        "api_token=shop-token",
        "--secret-host",
        &format!("api_token={shop_addr}"),
        "--grant",
        &shop_addr,
    ])
    .await;
    ok(&["enable", "acme", "order-to-sale"]).await;
    ok(&[
        "enable",
        "acme",
        "demo-ledger",
        "--config",
        &ledger_url,
        "--secret",
        "api_token=ledger-token",
        "--secret-host",
        &format!("api_token={ledger_addr}"),
        "--grant",
        &ledger_addr,
    ])
    .await;
    ok(&[
        "flow",
        "add",
        "acme",
        "orders-to-erp",
        "--from",
        "demo-shop:orders",
        "--via",
        "order-to-sale",
        "--to",
        "demo-ledger:sale-orders",
    ])
    .await;

    // The ledger refuses the first order: the run succeeds with one dead letter,
    // which its summary counts and its exit code (7) tells a script.
    ledger.script([tenon_sandboxes::Fault::Reject]);
    let out = tenon_async(data, &["flow", "run", "acme", "orders-to-erp"]).await;
    let run = stdout(&out);
    assert_eq!(code(&out), 7, "{run}{}", stderr(&out));
    assert!(
        run.contains("succeeded: 6 read, 5 written in 1 batch(es), 1 dead-lettered"),
        "{run}"
    );
    assert!(
        stderr(&out).contains(
            "1 record(s) dead-lettered: `tenon dlq list --tenant acme --flow orders-to-erp`"
        ),
        "{}",
        stderr(&out)
    );
    let runs = ok(&["runs", "list"]).await;
    // Columns are separated by two spaces or more.
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let header = cells(runs.lines().next().unwrap());
    let row = cells(runs.lines().nth(1).unwrap());
    let column = |name: &str| row[header.iter().position(|h| h == name).unwrap()].as_str();
    assert_eq!((column("WRITTEN"), column("DEAD")), ("5", "1"), "{runs}");
    assert!(is_rfc3339_utc(column("STARTED (UTC)")), "{runs}");
    let letters: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "dlq", "list"]).await).unwrap();
    assert_eq!(letters.as_array().unwrap().len(), 1);
    let id = letters[0]["id"].to_string();
    let key = letters[0]["envelope"]["key"].as_str().unwrap().to_owned();
    let shown = ok(&["dlq", "show", &id]).await;
    assert!(
        shown.contains("refused by demo-ledger@0.1.0") && shown.contains("permanent"),
        "{shown}"
    );

    // Reconcile sees the missing order and exits 6.
    let out = tenon_async(data, &["reconcile", "acme", "orders-to-erp"]).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("missing    {key}")),
        "{}",
        stdout(&out)
    );

    // Replay (pinned to the installed version) delivers it; the systems agree.
    let out = tenon_async(data, &["dlq", "replay", &id, "--plugin-version", "9.9.9"]).await;
    assert_eq!(code(&out), 3, "an unknown pinned version: {}", stderr(&out));
    let replayed = ok(&["dlq", "replay", &id, "--plugin-version", "0.1.0"]).await;
    assert!(
        replayed.contains("replayed through demo-ledger@0.1.0"),
        "{replayed}"
    );
    let clean = ok(&["reconcile", "acme", "orders-to-erp"]).await;
    assert!(
        clean.contains("matching: 6") && clean.contains("The systems agree."),
        "{clean}"
    );
    let audit = ok(&["audit"]).await;
    assert!(audit.contains("dlq.replay"), "{audit}");
    let out = tenon_async(data, &["dlq", "discard", &id]).await;
    assert_eq!(code(&out), 3, "replayed letters are gone");

    // The id map links each order to its sales order.
    let links = ok(&["idmap", "list", "acme", "--namespace", "flow:orders-to-erp"]).await;
    assert_eq!(links.lines().count(), 7, "a header and six links: {links}");
    let sale = ledger
        .sales_orders()
        .into_iter()
        .find(|s| s.external_ref == format!("shop:{key}"))
        .unwrap();
    let resolved = ok(&["idmap", "resolve", "acme", "flow:orders-to-erp", &key]).await;
    assert_eq!(resolved.trim(), format!("{key} -> {}", sale.id));

    // An ERP user deletes a sales order: reconcile says which.
    assert!(ledger.remove_sales_order(&sale.id));
    let out = tenon_async(data, &["--json", "reconcile", "acme", "orders-to-erp"]).await;
    assert_eq!(code(&out), 6);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["missing"], serde_json::json!([key]));

    // The flow's cursor: shown, reset for a backfill, set by hand; audited.
    let shown = ok(&["flow", "cursor", "acme", "orders-to-erp"]).await;
    assert!(
        shown.contains("Cursor of `acme/orders-to-erp`: 20"),
        "{shown}"
    );
    let cursor: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "flow", "cursor", "acme", "orders-to-erp"]).await)
            .unwrap();
    let cursor = cursor["cursor"].as_str().unwrap().to_owned();
    let reset = ok(&["flow", "cursor", "acme", "orders-to-erp", "--reset"]).await;
    assert!(reset.contains("is none (the start)"), "{reset}");
    // The backfill reads every order again; versions the flow delivered
    // already are not sent again (a connector fixed to read them differently
    // makes new versions, which are).
    let again = ok(&["flow", "run", "acme", "orders-to-erp"]).await;
    assert!(
        again.contains("succeeded: 6 read, 0 written") && again.contains("6 already delivered"),
        "{again}"
    );
    assert_eq!(ledger.sales_orders().len(), 5);
    let set = ok(&["flow", "cursor", "acme", "orders-to-erp", "--set", &cursor]).await;
    assert!(set.contains(&format!("is {cursor}")), "{set}");
    let quiet = ok(&["flow", "run", "acme", "orders-to-erp"]).await;
    assert!(quiet.contains("succeeded: 0 read"), "{quiet}");
    let out = tenon_async(
        data,
        &["flow", "cursor", "acme", "orders-to-erp", "--set", ""],
    )
    .await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let audit = ok(&["audit"]).await;
    assert!(
        audit.contains("flow.cursor.reset") && audit.contains("flow.cursor.set"),
        "{audit}"
    );

    // Removing the flow leaves its history.
    let removed = ok(&["flow", "remove", "acme", "orders-to-erp"]).await;
    assert!(removed.contains("removed"), "{removed}");
    let out = tenon_async(data, &["flow", "run", "acme", "orders-to-erp"]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let runs = ok(&["runs", "list", "--tenant", "acme"]).await;
    assert!(runs.contains("orders-to-erp"), "{runs}");
    assert!(ok(&["audit"]).await.contains("flow.remove"));

    // `preview --validate` shows what a flow would dead-letter, and why.
    let mut odd = shop.orders()[2].clone();
    odd.currency = "Euro".into();
    shop.upsert_order(odd.clone());
    let out = tenon_async(
        data,
        &["preview", "acme", "demo-shop", "orders", "--validate"],
    )
    .await;
    let shown = stdout(&out);
    assert_eq!(code(&out), 5, "{shown}{}", stderr(&out));
    assert!(
        shown.contains("6 record(s), 1 not matching the stream's schema")
            && shown.contains(
                "does not match the schema of `demo-shop`'s stream `orders`: at `/currency`"
            ),
        "{shown}"
    );
    let out = tenon_async(
        data,
        &[
            "--json",
            "preview",
            "acme",
            "demo-shop",
            "orders",
            "--validate",
        ],
    )
    .await;
    let page: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(page["invalid"][0]["key"], odd.id.as_str(), "{page}");
    let out = tenon_async(data, &["preview", "acme", "demo-shop", "orders"]).await;
    assert_eq!(code(&out), 0, "without --validate nothing is checked");

    // `tenon write` sends only the records that match the stream's schema.
    let sale = |reference: &str, currency: &str| {
        serde_json::json!({"key": reference, "payload": {
            "external_ref": reference, "customer_email": "a@example.com", "customer_name": "A",
            "currency": currency, "total_cents": 100, "status": "open",
            "lines": [{"sku": "MUG", "quantity": 1, "unit_price_cents": 100}]}})
    };
    let file = dir.path().join("sales.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&[sale("manual:1", "EUR"), sale("manual:2", "euro")]).unwrap(),
    )
    .unwrap();
    let held = ledger.sales_orders().len();
    let out = tenon_async(
        data,
        &[
            "write",
            "acme",
            "demo-ledger",
            "sale-orders",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let shown = stdout(&out);
    assert_eq!(code(&out), 5, "{shown}{}", stderr(&out));
    assert!(shown.contains("manual:1: written as"), "{shown}");
    assert!(
        shown.contains("manual:2: permanent: the record does not match the schema of `demo-ledger`'s stream `sale-orders`: at `/currency`"),
        "{shown}"
    );
    assert_eq!(
        ledger.sales_orders().len(),
        held + 1,
        "the invalid record was not sent"
    );
}

/// `2026-12-03T07:04:05Z`: what a table shows for a time.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn output_minds_pipes_terminals_and_times() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // Logs redirected away from a terminal carry no colour codes.
    let out = tenon(data, &["--log", "info", "plugin", "install", "--bundled"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Plugin installed"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains('\x1b'), "{:?}", stderr(&out));
    let out = tenon(data, &["tenant", "create", "acme"]);
    assert_eq!(code(&out), 0);

    // A reader that went away (`| head -1`, here: one that never reads) ends
    // the listing quietly, with exit 0.
    for args in [
        &["plugin", "list"][..],
        &["runs", "list"],
        &["tenant", "list"],
        &["idmap", "list", "acme"],
        &["audit"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenon"))
            .arg("--data")
            .arg(data)
            .args(args)
            .env_remove("TENON_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "tenon {args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "tenon {args:?}: {}", stderr(&out));
    }

    // Times as RFC 3339 in UTC, not epoch milliseconds.
    let audit = stdout(&tenon(data, &["audit"]));
    let header: Vec<&str> = audit.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[..3], ["ID", "AT", "(UTC)"], "{audit}");
    for line in audit.lines().skip(1) {
        let at = line.split_whitespace().nth(1).unwrap();
        assert!(is_rfc3339_utc(at), "{at} in {audit}");
    }
    assert!(audit.lines().count() > 1, "{audit}");

    // `preview` checks the stream before it calls the plugin.
    let out = tenon(data, &["preview", "acme", "demo-shop", "ordres"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`demo-shop` has no stream `ordres`; it has: orders"),
        "{}",
        stderr(&out)
    );
}
