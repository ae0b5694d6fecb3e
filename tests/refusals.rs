//! Bad input is refused with a clear message and changes nothing: malformed
//! `.wasm`, a component of the wrong world, bad configuration, unknown names.

mod support;

use std::collections::BTreeMap;
use support::*;
use tenon::limits::LimitOverrides;
use tenon::{Error, Tenon};
use tenon_tests::guests;

/// Everything an operator could have changed, to compare before and after.
fn snapshot(tenon: &Tenon) -> String {
    let components: Vec<_> = std::fs::read_dir(tenon.data_dir().join("components"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    format!(
        "{:?}|{:?}|{:?}|{:?}|{components:?}",
        tenon.plugins().unwrap(),
        tenon.tenants().unwrap(),
        tenon.enablements(None).unwrap(),
        tenon.flows(None).unwrap()
    )
}

async fn install_error(tenon: &Tenon, wasm: &[u8]) -> Error {
    let before = snapshot(tenon);
    let options = tenon::publishers::InstallOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    let error = tenon
        .install_with(wasm, options, "test")
        .await
        .expect_err("install must be refused");
    assert_eq!(snapshot(tenon), before, "a refused install changed state");
    assert_eq!(error.exit_code(), 4);
    error
}

#[tokio::test]
async fn malformed_and_foreign_components_are_refused_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = Tenon::open(dir.path()).unwrap();

    let error = install_error(&tenon, b"this is not wasm at all")
        .await
        .to_string();
    assert!(error.contains("not a WebAssembly file"), "{error}");

    let core_module = b"\0asm\x01\0\0\0";
    let error = install_error(&tenon, core_module).await.to_string();
    assert!(
        error.contains("core WebAssembly module, not a component"),
        "{error}"
    );

    let shop = tenon::bundled::get("demo-shop").unwrap();
    let error = install_error(&tenon, &shop[..shop.len() / 2])
        .await
        .to_string();
    assert!(error.contains("invalid WebAssembly component"), "{error}");

    let wrong = std::fs::read(guests::WRONG_WORLD).unwrap();
    let error = install_error(&tenon, &wrong).await.to_string();
    assert!(error.contains("not a Tenon plugin"), "{error}");
    assert!(
        error.contains("wasi:cli/run"),
        "the message names what it does export: {error}"
    );

    assert!(tenon.plugins().unwrap().is_empty());
}

#[tokio::test]
async fn bad_enablements_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, _ledger) = vendors(1).await;
    tenon.create_tenant("acme", "test").unwrap();
    let good = shop_enablement("acme", &shop);
    let before = snapshot(&tenon);

    let cases: Vec<(tenon::tenant::Enablement, &str)> = vec![
        (
            tenon::tenant::Enablement {
                config: BTreeMap::from([
                    ("base_url".into(), shop.base_url()),
                    ("colour".into(), "red".into()),
                ]),
                ..good.clone()
            },
            "`demo-shop` has no config key `colour`; it declares: base_url",
        ),
        (
            tenon::tenant::Enablement {
                config: BTreeMap::new(),
                ..good.clone()
            },
            "`demo-shop` requires config key `base_url`",
        ),
        (
            tenon::tenant::Enablement {
                secrets: BTreeMap::new(),
                ..good.clone()
            },
            "`demo-shop` needs secret `api_token`",
        ),
        (
            good.clone().with_secret("password", "a-password-value"),
            "`demo-shop` asks for no secret `password`",
        ),
        (
            good.clone().with_secret("api_token", "short"),
            "secret `api_token` is shorter than 8 bytes",
        ),
        (
            tenon::tenant::Enablement {
                secrets: BTreeMap::from([(
                    "api_token".into(),
                    tenon::capability::secret::Secret::for_hosts("a-token-value", Vec::new()),
                )]),
                ..good.clone()
            },
            "secret `api_token` is sent to the vendor: name the hosts it is for",
        ),
        (
            tenon::tenant::Enablement {
                secrets: BTreeMap::from([(
                    "api_token".into(),
                    tenon::capability::secret::Secret::for_hosts(
                        "a-token-value",
                        vec!["elsewhere.example.com".parse().unwrap()],
                    ),
                )]),
                ..good.clone()
            },
            "secret `api_token` is for elsewhere.example.com, which is not granted",
        ),
        (
            tenon::tenant::Enablement {
                limits: LimitOverrides {
                    memory_mib: Some(0),
                    ..Default::default()
                },
                ..good.clone()
            },
            "limit `memory-mib` must be greater than 0",
        ),
        (
            tenon::tenant::Enablement {
                grants: good.grants.clone(),
                ..enablement("acme", "order-to-sale")
            },
            "transforms have no network",
        ),
    ];
    for (enablement, expected) in cases {
        let error = tenon
            .enable(enablement, "test")
            .expect_err("must be refused");
        assert!(matches!(error, Error::Invalid(_)), "{error:?}");
        assert!(
            error.to_string().contains(expected),
            "expected {expected:?} in {error}"
        );
        assert_eq!(
            snapshot(&tenon),
            before,
            "a refused enablement changed state"
        );
    }

    let unknown_tenant = tenon
        .enable(shop_enablement("nobody", &shop), "test")
        .unwrap_err();
    assert_eq!(unknown_tenant.to_string(), "tenant `nobody` not found");
    assert_eq!(unknown_tenant.exit_code(), 3);
    let unknown_plugin = tenon
        .enable(enablement("acme", "no-such-plugin"), "test")
        .unwrap_err();
    assert_eq!(
        unknown_plugin.to_string(),
        "plugin `no-such-plugin` not found"
    );
    assert!(
        "http://example.com"
            .parse::<tenon::capability::http::Grant>()
            .is_err()
    );
    assert_eq!(snapshot(&tenon), before);

    // The same settings, corrected, are accepted.
    tenon.enable(good, "test").unwrap();
}

#[tokio::test]
async fn bad_flows_and_unknown_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    tenon.create_tenant("acme", "test").unwrap();
    let before = snapshot(&tenon);

    let cases = [
        (
            orders_flow("acme", "demo-shop", "customers"),
            "`demo-shop` has no stream `customers`; it has: orders",
        ),
        (
            orders_flow("acme", "demo-ledger", "sale-orders"),
            "stream `demo-ledger:sale-orders` is not readable",
        ),
        (
            orders_flow("acme", "order-to-sale", "orders"),
            "`order-to-sale` is a transform, not a connector",
        ),
        (
            orders_flow("nobody", "demo-shop", "orders"),
            "tenant `nobody` not found",
        ),
        (
            tenon::flow::Flow {
                batch_size: 0,
                ..orders_flow("acme", "demo-shop", "orders")
            },
            "batch size must be between 1 and 1000",
        ),
    ];
    for (flow, expected) in cases {
        let error = tenon.add_flow(flow, "test").expect_err("must be refused");
        assert!(
            error.to_string().contains(expected),
            "expected {expected:?} in {error}"
        );
    }
    assert_eq!(snapshot(&tenon), before);

    assert_eq!(
        tenon
            .run_flow("acme", "nope")
            .await
            .unwrap_err()
            .to_string(),
        "flow `acme/nope` not found"
    );
    assert_eq!(
        tenon
            .run_flow("ghost", "nope")
            .await
            .unwrap_err()
            .to_string(),
        "tenant `ghost` not found"
    );
    assert!(
        tenon.runs(None, None, 10).unwrap().is_empty(),
        "a refused run leaves no record"
    );
}
