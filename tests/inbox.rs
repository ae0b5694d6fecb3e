//! The inbox behind webhook ingress, driven through [`Tenon::receive_webhook`]
//! (the HTTP side is `host/tests/webhook.rs`): records fan out to every flow of
//! the tenant whose source is the plugin's stream, each flow's run delivers and
//! removes its own entries, and refused webhooks store nothing.

mod support;

use support::*;
use tenon::Tenon;
use tenon::capability::secret::Secret;
use tenon::sandbox::WebhookRequest;
use tenon_sandboxes::demo_orders;

const SECRET: &str = "whsec-test";

/// A signed `order.updated` webhook for a new order `id`, signed with `secret`.
fn webhook(id: &str, secret: &str) -> WebhookRequest {
    let mut order = demo_orders(1).remove(0);
    order.id = id.to_owned();
    signed_webhook(&order, secret)
}

fn inbox_len(tenon: &Tenon, tenant: &str, flow: &str) -> usize {
    tenon.inbox(tenant, flow).unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_records_wait_per_flow_until_its_run_delivers_them() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(2).await;
    pipeline(&tenon, "acme", &shop, &ledger);
    let mut with_secret = shop_enablement("acme", &shop);
    with_secret.secrets.insert(
        "webhook_secret".into(),
        Secret::for_hosts(SECRET, Vec::new()),
    );
    tenon.enable(with_secret, "test").unwrap();
    let mut copy = orders_flow("acme", "demo-shop", "orders");
    copy.name = "orders-copy".into();
    tenon.add_flow(copy, "test").unwrap();

    // Refused webhooks store nothing.
    let error = tenon
        .receive_webhook("acme", "demo-shop", webhook("9001", "wrong"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("denied"), "{error}");
    let error = tenon
        .receive_webhook("acme", "order-to-sale", webhook("9001", SECRET))
        .await
        .unwrap_err();
    assert!(matches!(error, tenon::Error::NotFound { .. }), "{error}");
    assert_eq!(inbox_len(&tenon, "acme", "orders-to-erp"), 0);

    // One record, one entry for each flow from `demo-shop:orders`.
    let taken = tenon
        .receive_webhook("acme", "demo-shop", webhook("9001", SECRET))
        .await
        .unwrap();
    assert_eq!(taken, 1);
    assert_eq!(inbox_len(&tenon, "acme", "orders-to-erp"), 1);
    assert_eq!(inbox_len(&tenon, "acme", "orders-copy"), 1);

    // A run delivers its flow's entry (and the feed), and removes only that entry.
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_succeeded(&run);
    assert_eq!((run.records_read, run.records_written), (3, 3));
    assert_eq!(inbox_len(&tenon, "acme", "orders-to-erp"), 0);
    assert_eq!(inbox_len(&tenon, "acme", "orders-copy"), 1);
    assert!(
        ledger
            .sales_orders()
            .iter()
            .any(|s| s.external_ref == "shop:9001")
    );
    let run = tenon.run_flow("acme", "orders-to-erp").await.unwrap();
    assert_eq!(run.records_read, 0, "delivered once, then gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_without_the_secret_or_a_flow_takes_no_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(1).await;
    // No `webhook_secret` set: the host refuses the plugin's verification.
    pipeline(&tenon, "acme", &shop, &ledger);
    let error = tenon
        .receive_webhook("acme", "demo-shop", webhook("9001", SECRET))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no secret `webhook_secret`"),
        "{error}"
    );
    // The secret set, but no flow takes `demo-shop:orders`.
    tenon.create_tenant("globex", "test").unwrap();
    let mut enablement = shop_enablement("globex", &shop);
    enablement.secrets.insert(
        "webhook_secret".into(),
        Secret::for_hosts(SECRET, Vec::new()),
    );
    tenon.enable(enablement, "test").unwrap();
    let error = tenon
        .receive_webhook("globex", "demo-shop", webhook("9001", SECRET))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no flow"), "{error}");
    // Not enabled at all.
    let error = tenon
        .receive_webhook("globex", "demo-ledger", webhook("9001", SECRET))
        .await
        .unwrap_err();
    assert!(matches!(error, tenon::Error::NotFound { .. }), "{error}");
}
