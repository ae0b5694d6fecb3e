//! The `pim-akeneo` connector against the Akeneo-shaped PIM sandbox: products
//! come with their localized values and media references, the `updated`
//! watermark moves so that an edit shows up on the next read only, products
//! updated in the same second are not lost between pages, and the PIM's
//! failures fail the read without moving anything.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::*;
use tenon::Tenon;
use tenon::vendors::{Pim, ProductValue, demo_products};

const PIM_TOKEN: &str = "pim-test-token";

async fn setup(products: usize) -> (tempfile::TempDir, Tenon, Pim) {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let pim = Pim::start(PIM_TOKEN, demo_products(products))
        .await
        .expect("PIM starts");
    tenon.create_tenant("acme", "test").unwrap();
    tenon
        .enable(
            tenon::tenant::Enablement {
                config: BTreeMap::from([("base_url".into(), pim.base_url())]),
                secrets: BTreeMap::from([("api_token".into(), PIM_TOKEN.into())]),
                grants: vec![pim.addr().to_string().parse().unwrap()],
                ..enablement("acme", "pim-akeneo")
            },
            "test",
        )
        .unwrap();
    (dir, tenon, pim)
}

async fn read(tenon: &Tenon, cursor: Option<&str>, limit: u32) -> tenon::sandbox::ReadPage {
    tenon
        .preview("acme", "pim-akeneo", "products", cursor, limit)
        .await
        .unwrap()
}

fn payload(envelope: &tenon::record::Envelope) -> Value {
    serde_json::from_str(&envelope.payload).unwrap()
}

fn keys(page: &tenon::sandbox::ReadPage) -> Vec<&str> {
    page.records.iter().map(|r| r.key.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn products_are_read_with_localized_values_and_media() {
    let (_dir, tenon, _pim) = setup(3).await;
    let page = read(&tenon, None, 50).await;
    assert_eq!(keys(&page), ["SKU-0001", "SKU-0002", "SKU-0003"]);
    assert!(!page.more);
    let product = payload(&page.records[0]);
    assert_eq!(product["family"], "tshirts");
    assert_eq!(
        product["values"]["name"],
        json!([
            {"locale": "en_US", "scope": null, "data": "T-shirt 1"},
            {"locale": "fr_FR", "scope": null, "data": "T-shirt 1 (FR)"},
        ])
    );
    assert_eq!(
        product["values"]["description"][1]["data"],
        "Coton biologique, coupe droite."
    );
    assert_eq!(
        product["values"]["image"][0]["data"],
        "a/b/c/sku-0001_front.jpg"
    );
    assert!(
        product["values"]["image"][0]["_links"]["download"]["href"]
            .as_str()
            .unwrap()
            .ends_with("/download")
    );
    assert_eq!(
        page.records[0].source_time.as_deref(),
        product["updated"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_shows_up_on_the_next_read_only() {
    let (_dir, tenon, pim) = setup(5).await;
    let first = read(&tenon, None, 50).await;
    assert_eq!(first.records.len(), 5);
    let cursor = first.next_cursor.expect("a cursor after records");
    assert!(read(&tenon, Some(&cursor), 50).await.records.is_empty());

    pim.edit_product("SKU-0003", |p| {
        p.values.insert(
            "name".into(),
            vec![
                ProductValue::localized("en_US", "Linen shirt"),
                ProductValue::localized("fr_FR", "Chemise en lin"),
            ],
        );
    });
    let next = read(&tenon, Some(&cursor), 50).await;
    assert_eq!(keys(&next), ["SKU-0003"]);
    assert_eq!(
        payload(&next.records[0])["values"]["name"][1]["data"],
        "Chemise en lin"
    );
    let after = next.next_cursor.expect("the cursor moves");
    assert!(read(&tenon, Some(&after), 50).await.records.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn small_pages_lose_nothing_updated_in_the_same_second() {
    let (_dir, tenon, pim) = setup(4).await;
    let all = read(&tenon, None, 50).await;
    let mut cursor = all.next_cursor;
    // Three edits, most likely within one second: equal `updated` times.
    for sku in ["SKU-0004", "SKU-0002", "SKU-0001"] {
        pim.edit_product(sku, |p| p.enabled = false);
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        let page = read(&tenon, cursor.as_deref(), 1).await;
        if page.records.is_empty() {
            break;
        }
        seen.extend(page.records.iter().map(|r| r.key.clone()));
        cursor = page.next_cursor;
    }
    seen.sort();
    assert_eq!(seen, ["SKU-0001", "SKU-0002", "SKU-0004"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pim_failures_fail_the_read() {
    let (_dir, tenon, pim) = setup(2).await;
    pim.fail_next(1, 503);
    let error = tenon
        .preview("acme", "pim-akeneo", "products", None, 10)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(read(&tenon, None, 10).await.records.len(), 2);
}
