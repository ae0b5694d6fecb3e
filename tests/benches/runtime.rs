//! Runtime benchmark (`cargo bench -p tenon-tests`): prints figures, asserts
//! nothing. Every figure is measured in this process, side by side with its
//! baseline, and reported as a ratio:
//!
//! - instantiation latency of a component in a fresh store (p50, p99);
//! - records/s of the `order-to-sale` transform as a Wasm component, against the
//!   same Rust code compiled natively;
//! - the cost of fuel metering: the same component on an engine without it.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tenon::compile::Compiler;
use tenon::engine::{Engine, EngineOptions};
use tenon::limits::Limits;
use tenon::record::{Envelope, Op};
use tenon::sandbox::{CallContext, Sandbox};

const INSTANTIATIONS: usize = 2_000;
const BATCH: usize = 500;
const MEASURE_FOR: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let engine = |cache: &str, fuel: bool| {
        let options = EngineOptions {
            cache_dir: dir.path().join(cache),
            cache_key: [7; 32],
            compiler: Compiler::InProcess,
            fuel,
            capabilities: tenon::capability::standard(tenon::capability::http::Http::new()),
        };
        Sandbox::new(Arc::new(Engine::new(options).unwrap()))
    };
    let metered = engine("metered", true);
    let unmetered = engine("plain", false);
    let wasm = tenon::bundled::get("order-to-sale").expect("bundled transform");
    let started = Instant::now();
    let (_, component) = metered.engine().load(wasm).unwrap();
    let compile = started.elapsed();
    let (_, plain_component) = unmetered.engine().load(wasm).unwrap();
    let mut ctx = CallContext::bare("order-to-sale");
    ctx.limits = Limits {
        fuel: u64::MAX / 2,
        ..Limits::default()
    };

    println!(
        "tenon runtime benchmark ({} KiB component, compiled in {} ms)",
        wasm.len() / 1024,
        compile.as_millis()
    );

    // Instantiation: a fresh store and instance, as every call gets.
    for _ in 0..100 {
        metered.instantiate(&component, &ctx).await.unwrap();
    }
    let mut samples = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let t = Instant::now();
        metered.instantiate(&component, &ctx).await.unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "instantiation ({INSTANTIATIONS} runs): p50 {:.1} us, p99 {:.1} us",
        micros(p(0.50)),
        micros(p(0.99))
    );

    // Transform throughput: Wasm (metered and not) against native.
    let batch = orders(BATCH);
    let wasm_rate = rate(async || {
        let (out, _) = metered
            .transform(&component, &ctx, batch.clone())
            .await
            .unwrap();
        assert_eq!(out.len(), BATCH);
    })
    .await;
    let plain_rate = rate(async || {
        let (out, _) = unmetered
            .transform(&plain_component, &ctx, batch.clone())
            .await
            .unwrap();
        assert_eq!(out.len(), BATCH);
    })
    .await;
    let native_batch: Vec<tenon_sdk::Envelope> = batch.iter().map(native).collect();
    let native_rate = rate(async || {
        let out =
            order_to_sale::map_batch(native_batch.clone(), None, order_to_sale::DEFAULT_PREFIX)
                .unwrap();
        assert_eq!(out.len(), BATCH);
    })
    .await;
    println!(
        "transform order-to-sale, batches of {BATCH} (each Wasm call includes a fresh instance):"
    );
    println!("  native             {:>10.0} records/s", native_rate);
    println!(
        "  wasm, fuel metered {:>10.0} records/s  ({:.2}x native)",
        wasm_rate,
        wasm_rate / native_rate
    );
    println!(
        "  wasm, no fuel      {:>10.0} records/s  ({:.2}x native)",
        plain_rate,
        plain_rate / native_rate
    );
    println!(
        "fuel metering cost: metered runs at {:.2}x the speed of unmetered ({:+.1}% time)",
        wasm_rate / plain_rate,
        (plain_rate / wasm_rate - 1.0) * 100.0
    );
}

/// Records per second of `run` (which handles one batch), measured for a while
/// after a warm-up.
async fn rate(mut run: impl AsyncFnMut()) -> f64 {
    for _ in 0..3 {
        run().await;
    }
    let started = Instant::now();
    let mut batches = 0u64;
    while started.elapsed() < MEASURE_FOR {
        run().await;
        batches += 1;
    }
    (batches * BATCH as u64) as f64 / started.elapsed().as_secs_f64()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `n` orders as the shop connector hands them on.
fn orders(n: usize) -> Vec<Envelope> {
    tenon_sandboxes::demo_orders(n)
        .into_iter()
        .map(|order| Envelope {
            stream: "orders".into(),
            key: order.id.clone(),
            op: Op::Upsert,
            source_time: Some(order.updated_at.clone()),
            payload: serde_json::to_string(&order).unwrap(),
        })
        .collect()
}

fn native(e: &Envelope) -> tenon_sdk::Envelope {
    tenon_sdk::Envelope {
        stream: e.stream.clone(),
        key: e.key.clone(),
        op: tenon_sdk::Op::Upsert,
        payload: e.payload.clone(),
        source_time: e.source_time.clone(),
    }
}
