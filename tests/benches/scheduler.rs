//! Scheduler benchmark (`cargo bench -p tenon-tests --bench scheduler`): prints
//! figures, asserts nothing. 50 flows (5 tenants of 10) of the demo pipeline on
//! 1 s schedules run for 30 s under the server's default scheduler settings,
//! against the loopback shop and ledger, which take a new order every 100 ms.
//! Printed: the share of fire times that got a run (the target is at least
//! 80 % on 2 cores), the fire times counted as missed, the delay from a fire
//! time to its run's start, and how long after it was placed a new order
//! reached the ledger. The baseline, in the same process, is one flow alone
//! on the same schedule: what a flow gets when nothing competes with it.

#[path = "../support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tenon::server::config::SchedulerConfig;
use tenon::server::metrics::Metrics;
use tenon::server::schedule::Scheduler;
use tenon_sandboxes::{Ledger, Shop};

const TENANTS: usize = 5;
const FLOWS_PER_TENANT: usize = 10;
const MEASURE_FOR: Duration = Duration::from_secs(30);

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

struct Figures {
    flows: usize,
    fires: u64,
    runs: u64,
    missed: u64,
    start_delay_p50_ms: u64,
    start_delay_p95_ms: u64,
    arrival_p50_ms: u64,
    arrival_p95_ms: u64,
}

async fn bench() {
    println!(
        "tenon scheduler benchmark ({} s, default settings: {:?})",
        MEASURE_FOR.as_secs(),
        SchedulerConfig::default()
    );
    let baseline = measure(1, 1).await;
    let loaded = measure(TENANTS, FLOWS_PER_TENANT).await;
    for (name, f) in [("1 flow (baseline)", &baseline), ("50 flows", &loaded)] {
        println!(
            "{name}: {} runs for {} fire times = {:.0} % ({} missed); start delay p50 {} ms, p95 {} ms; new order to ledger p50 {} ms, p95 {} ms",
            f.runs,
            f.fires,
            100.0 * f.runs as f64 / f.fires.max(1) as f64,
            f.missed,
            f.start_delay_p50_ms,
            f.start_delay_p95_ms,
            f.arrival_p50_ms,
            f.arrival_p95_ms
        );
    }
    let share = |f: &Figures| f.runs as f64 / f.fires.max(1) as f64;
    println!(
        "runs per fire time, 50 flows against 1 flow: {:.2}x ({} flows)",
        share(&loaded) / share(&baseline).max(f64::MIN_POSITIVE),
        loaded.flows
    );
}

/// Runs `tenants * flows` scheduled flows for [`MEASURE_FOR`].
async fn measure(tenants: usize, flows: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let tenon = host(dir.path()).await;
    let (shop, ledger) = vendors(0).await;
    for t in 0..tenants {
        let tenant = format!("t{t}");
        pipeline(&tenon, &tenant, &shop, &ledger);
        // `pipeline` adds `orders-to-erp` without a schedule: the scheduler
        // leaves it alone.
        for f in 0..flows {
            let mut flow = orders_flow(&tenant, "demo-shop", "orders");
            flow.name = format!("f{f}");
            flow.schedule = Some(tenon::flow::Schedule::Every("1s".parse().unwrap()));
            tenon.add_flow(flow, "bench").unwrap();
        }
    }
    let metrics = Arc::new(Metrics::default());
    let scheduler = Scheduler::new(
        tenon.clone(),
        SchedulerConfig::default(),
        Arc::clone(&metrics),
    );
    let started_ms = tenon::host::now_ms();
    let started = Instant::now();
    let ticking = tokio::spawn(Arc::clone(&scheduler).tick_loop());
    let placed = place_orders(&shop, &ledger, started).await;
    scheduler.stop();
    scheduler.wait().await;
    ticking.await.unwrap();
    let ended_ms = tenon::host::now_ms();

    let mut fires = 0;
    let mut runs = 0;
    let mut delays = Vec::new();
    for t in 0..tenants {
        for f in 0..flows {
            let (tenant, flow) = (format!("t{t}"), format!("f{f}"));
            // The whole seconds from the start to the end.
            fires += ended_ms / 1_000 - started_ms / 1_000;
            for run in tenon.runs(Some(&tenant), Some(&flow), usize::MAX).unwrap() {
                runs += 1;
                delays.push(run.started_at % 1_000);
            }
        }
    }
    let missed = metric_sum(&metrics.render(), "tenon_schedule_missed_total");
    Figures {
        flows: tenants * flows,
        fires,
        runs,
        missed,
        start_delay_p50_ms: percentile(&mut delays, 0.5),
        start_delay_p95_ms: percentile(&mut delays, 0.95),
        arrival_p50_ms: percentile(&mut placed.clone(), 0.5),
        arrival_p95_ms: percentile(&mut placed.clone(), 0.95),
    }
}

/// Places a new order every 100 ms until [`MEASURE_FOR`] is over; returns, for
/// each order that reached the ledger, how long that took in milliseconds.
async fn place_orders(shop: &Shop, ledger: &Ledger, started: Instant) -> Vec<u64> {
    let mut placed: Vec<(String, Instant)> = Vec::new();
    let mut arrived = std::collections::HashMap::new();
    let template = tenon_sandboxes::demo_orders(1).remove(0);
    let mut n = 0;
    while started.elapsed() < MEASURE_FOR {
        let mut order = template.clone();
        order.id = (50_000 + n).to_string();
        order.number = format!("SO-{}", order.id);
        n += 1;
        shop.upsert_order(order.clone());
        placed.push((format!("shop:{}", order.id), Instant::now()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        for sale in ledger.sales_orders() {
            arrived
                .entry(sale.external_ref)
                .or_insert_with(Instant::now);
        }
    }
    placed
        .iter()
        .filter_map(|(id, at)| Some(arrived.get(id)?.duration_since(*at).as_millis() as u64))
        .collect()
}

fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn percentile(values: &mut [u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    values[((values.len() - 1) as f64 * p) as usize]
}
