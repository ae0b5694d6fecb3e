//! What a guest writes (its `log` calls, stdout and stderr) reaches the host's
//! `tracing`, tagged with tenant and plugin.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use support::*;
use tenon_tests::guests;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime, so the thread-local subscriber sees every call.
#[tokio::test]
async fn guest_logs_and_stdio_reach_tracing_tagged_with_tenant_and_plugin() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(4).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let echo = install(&tenon, guests::ECHO).await;
    tenon.enable(enablement("acme", &echo.id), "test").unwrap();
    let mut flow = orders_flow("acme", "demo-shop", "orders");
    flow.name = "echoed".into();
    flow.transforms.insert(0, echo.id.clone());
    tenon.add_flow(flow, "test").unwrap();

    let run = tenon.run_flow("acme", "echoed").await.unwrap();
    assert_succeeded(&run);
    assert_eq!(ledger.sales_orders().len(), 4);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for (source, text) in [
        ("log", "echo: 4 records"),
        ("stdout", "echo-stdout: 4 records"),
        ("stderr", "echo-stderr: 4 records"),
    ] {
        let line = logs
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no {source} line {text:?} in:\n{logs}"));
        assert!(
            line.contains("tenant=\"acme\"") || line.contains("tenant=acme"),
            "{line}"
        );
        assert!(
            line.contains("plugin=\"guest-echo\"") || line.contains("plugin=guest-echo"),
            "{line}"
        );
        assert!(
            line.contains(&format!("source=\"{source}\""))
                || line.contains(&format!("source={source}")),
            "{line}"
        );
    }
    assert!(
        !logs.contains(SHOP_TOKEN) && !logs.contains(LEDGER_TOKEN),
        "secrets never logged"
    );
}
