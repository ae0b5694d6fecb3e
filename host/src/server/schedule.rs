//! The scheduler: starts flow runs when their schedule says, or when an operator
//! asks (run-now), under three rules: never two runs of the same flow at once, at
//! most `max_concurrent_runs` runs in all and `max_concurrent_runs_per_tenant`
//! per tenant. Owns the timetable and the run slots; running a flow is
//! [`Tenon::run_flow`]'s, and it touches no state of its own.
//!
//! # When a flow is due
//! Each flow's fire times come from its [`Schedule`]: for `every P`, the
//! multiples of P counted from the Unix epoch; for a cron expression, the times it
//! names in UTC. A run is due at a fire time plus the flow's *jitter delay*: its
//! jitter share (the first 8 bytes of SHA-256 of `tenant NUL flow`, read as a
//! fraction of 2^64) times the `jitter` setting times the gap to the following fire
//! time. The delay is the same on every start and for every fire, and it spreads
//! the tenants' runs over the first part of each period instead of all at its top.
//!
//! The first due time after a start is the first one still ahead, so a restart
//! does not make every flow run at once. Fire times that pass while the flow runs,
//! or while it waits for a free slot, are merged into one run and counted as
//! missed (`tenon_schedule_missed_total`, and a log line); after a run the flow
//! is next due at the first due time ahead of its end.
//!
//! Due flows start as soon as they are due and a slot is free: the loop wakes
//! at the earliest due time (and at least every `tick`, to see new and changed
//! flows), and a run that ends starts the flows waiting for its slot.

use crate::Tenon;
use crate::flow::{Flow, Run, Schedule};
use crate::host::now_ms;
use crate::server::config::SchedulerConfig;
use crate::server::metrics::Metrics;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A flow, as `(tenant, name)`.
pub type FlowKey = (String, String);

/// Why a run did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("flow `{0}/{1}` is already running")]
    AlreadyRunning(String, String),
    #[error("{0} runs are in progress, the most the server allows at once")]
    GlobalLimit(usize),
    #[error("{1} runs of tenant `{0}` are in progress, the most it may have at once")]
    TenantLimit(String, usize),
}

/// What started a run, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    RunNow,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::RunNow => "run-now",
        }
    }
}

/// The next fire time of a flow and when its run is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The fire time of the schedule (Unix ms), without jitter.
    pub fire: u64,
    /// `fire` plus the flow's jitter delay: when the run starts.
    pub at: u64,
}

/// A scheduled flow in the timetable.
#[derive(Debug)]
struct Entry {
    schedule: Schedule,
    /// The flow's jitter share, in `[0, 1)`.
    share: f64,
    /// None: the schedule names no future time.
    due: Option<Due>,
    /// A vendor asked to wait until then (Unix ms): the flow's next run is the
    /// schedule's first fire time after it.
    not_before: u64,
}

/// What the scheduler holds under its lock.
#[derive(Debug, Default)]
struct Board {
    timetable: BTreeMap<FlowKey, Entry>,
    /// Flows running now.
    running: BTreeMap<FlowKey, Trigger>,
    /// Runs in progress per tenant.
    per_tenant: HashMap<String, usize>,
    stopping: bool,
}

/// A run's hold on its flow and its share of the limits; dropping it (also when
/// the run task panics) gives them back.
struct Slot {
    scheduler: Arc<Scheduler>,
    key: FlowKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.scheduler.finish(&self.key, now_ms());
    }
}

/// The scheduler. Shared (`Arc`) by its tick loop, the HTTP handlers and the
/// run tasks it spawns.
#[derive(Debug)]
pub struct Scheduler {
    tenon: Tenon,
    config: SchedulerConfig,
    metrics: Arc<Metrics>,
    board: Mutex<Board>,
    runs: TaskTracker,
    /// Cancelled by [`Scheduler::stop`]: ends the tick loop at once.
    stopped: CancellationToken,
}

impl Scheduler {
    pub fn new(tenon: Tenon, config: SchedulerConfig, metrics: Arc<Metrics>) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            tenon,
            config,
            metrics,
            board: Mutex::new(Board::default()),
            runs: TaskTracker::new(),
            stopped: CancellationToken::new(),
        })
    }

    /// The host the runs are made with.
    pub fn tenon(&self) -> &Tenon {
        &self.tenon
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        // Every change to the board is made in one step under the lock.
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks for due flows until [`Scheduler::stop`]: every `tick`, and at the
    /// earliest due time when that comes first.
    pub async fn tick_loop(self: Arc<Self>) {
        loop {
            // While the state cannot be written a run could only fail.
            let flows = match self.tenon.storage_failure() {
                Some(_) => Ok(None),
                None => self.tenon.flows(None).map(Some),
            };
            match flows {
                Ok(Some(flows)) => self.tick(&flows, now_ms()),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "Could not list flows; trying again next tick")
                }
            }
            let wait = self.next_wake(now_ms()).min(self.config.tick);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stopped.cancelled() => return,
            }
        }
    }

    /// How long until the earliest due time of a flow that is not running.
    fn next_wake(&self, now: u64) -> std::time::Duration {
        let board = self.board();
        let earliest = board
            .timetable
            .iter()
            .filter(|(key, _)| !board.running.contains_key(*key))
            .filter_map(|(_, entry)| entry.due.map(|d| d.at.max(entry.not_before)))
            .min();
        // At least a millisecond, so a flow held back by the limits does not
        // make the loop spin; a freed slot starts it anyway.
        std::time::Duration::from_millis(
            earliest.map_or(u64::MAX, |at| at.saturating_sub(now).max(1)),
        )
    }

    /// One look at the timetable at time `now`: takes in new and changed
    /// schedules, then starts the due flows, longest due first, as far as the
    /// limits allow.
    pub fn tick(self: &Arc<Self>, flows: &[Flow], now: u64) {
        let mut board = self.board();
        let scheduled: BTreeMap<FlowKey, &Schedule> = flows
            .iter()
            .filter_map(|f| Some(((f.tenant.clone(), f.name.clone()), f.schedule.as_ref()?)))
            .collect();
        board
            .timetable
            .retain(|key, entry| scheduled.get(key) == Some(&&entry.schedule));
        for (key, schedule) in scheduled {
            board
                .timetable
                .entry(key)
                .or_insert_with_key(|(tenant, flow)| {
                    let share = jitter_share(tenant, flow);
                    let due = next_due(schedule, share, self.config.jitter, None, now);
                    Entry {
                        schedule: schedule.clone(),
                        share,
                        due,
                        not_before: 0,
                    }
                });
        }
        self.start_due_locked(&mut board, now);
    }

    /// Starts the due flows, longest due first, as far as the limits allow.
    fn start_due_locked(self: &Arc<Self>, board: &mut Board, now: u64) {
        let mut due: Vec<(u64, FlowKey)> = board
            .timetable
            .iter()
            .filter(|(key, _)| !board.running.contains_key(*key))
            .filter_map(|(key, entry)| Some((entry.due?.at, key.clone())))
            .filter(|(at, _)| *at <= now)
            .collect();
        due.sort();
        for (_, (tenant, flow)) in due {
            match self.start_locked(board, &tenant, &flow, Trigger::Schedule) {
                Ok(_) | Err(Refusal::TenantLimit(..)) => {}
                Err(Refusal::GlobalLimit(_) | Refusal::ShuttingDown) => break,
                Err(Refusal::AlreadyRunning(..)) => unreachable!("running flows are not due"),
            }
        }
    }

    /// Starts a run of the flow now (the run-now trigger), unless it is running,
    /// a limit is reached, or the server is stopping. The receiver gets the run
    /// record when the run ends. Whether the flow exists is the caller's to check;
    /// a run of an unknown flow ends with that error.
    pub fn run_now(
        self: &Arc<Self>,
        tenant: &str,
        flow: &str,
    ) -> Result<oneshot::Receiver<crate::Result<Run>>, Refusal> {
        let mut board = self.board();
        self.start_locked(&mut board, tenant, flow, Trigger::RunNow)
    }

    fn start_locked(
        self: &Arc<Self>,
        board: &mut Board,
        tenant: &str,
        flow: &str,
        trigger: Trigger,
    ) -> Result<oneshot::Receiver<crate::Result<Run>>, Refusal> {
        let key = (tenant.to_owned(), flow.to_owned());
        if board.stopping {
            return Err(Refusal::ShuttingDown);
        }
        if board.running.contains_key(&key) {
            return Err(Refusal::AlreadyRunning(key.0, key.1));
        }
        if board.running.len() >= self.config.max_concurrent_runs {
            return Err(Refusal::GlobalLimit(board.running.len()));
        }
        let of_tenant = board.per_tenant.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.config.max_concurrent_runs_per_tenant {
            return Err(Refusal::TenantLimit(tenant.to_owned(), of_tenant));
        }
        board.running.insert(key.clone(), trigger);
        *board.per_tenant.entry(tenant.to_owned()).or_default() += 1;
        self.metrics.set_running(tenant, of_tenant + 1);

        let (done, receiver) = oneshot::channel();
        let slot = Slot {
            scheduler: Arc::clone(self),
            key,
        };
        self.runs.spawn(async move {
            let (tenant, flow) = &slot.key;
            tracing::debug!(%tenant, %flow, trigger = trigger.as_str(), "Starting a flow run");
            let tenon = &slot.scheduler.tenon;
            // The plugins at the start, for the metrics' `plugin` label.
            let plugins = tenon
                .flow(tenant, flow)
                .map(|f| (f.source.plugin, f.destination.plugin))
                .unwrap_or_default();
            let result = tenon.run_flow(tenant, flow).await;
            match &result {
                Ok(run) => {
                    slot.scheduler
                        .metrics
                        .record_run(run, &plugins.0, &plugins.1);
                    if let Some(after_ms) = run.retry_after_ms {
                        slot.scheduler.hold(
                            &slot.key,
                            now_ms().saturating_add(
                                after_ms.min(crate::delivery::MAX_RATE_LIMIT_WAIT_MS),
                            ),
                        );
                    }
                }
                Err(error) => tracing::warn!(%tenant, %flow, %error, "Flow run could not start"),
            }
            drop(slot);
            let _ = done.send(result);
        });
        Ok(receiver)
    }

    /// Frees the flow's slots and, if its due time has passed, moves it to the
    /// next one ahead of `now`, counting the fire times it skips as missed;
    /// then starts the flows that are due, now that a slot is free.
    fn finish(self: &Arc<Self>, key: &FlowKey, now: u64) {
        let mut board = self.board();
        board.running.remove(key);
        let left = match board.per_tenant.get_mut(&key.0) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            board.per_tenant.remove(&key.0);
        }
        self.metrics.set_running(&key.0, left);
        let jitter = self.config.jitter;
        if let Some(entry) = board.timetable.get_mut(key)
            && let Some(due) = entry.due
            && (due.at <= now || due.at < entry.not_before)
        {
            let after = now.max(entry.not_before);
            entry.due = next_due(&entry.schedule, entry.share, jitter, Some(due.fire), after);
            // The fire times that passed while it ran or waited; those a
            // vendor's rate limit made it skip are not missed.
            let missed = entry.due.map_or(0, |next| {
                fires_between(&entry.schedule, due.fire, next.fire.min(now + 1))
            });
            if missed > 0 {
                self.metrics.record_missed(&key.0, &key.1, missed);
                tracing::warn!(
                    tenant = %key.0,
                    flow = %key.1,
                    missed,
                    late_ms = now.saturating_sub(due.at),
                    "Flow missed fire times of its schedule: its run outlasted its period or waited for a run slot (see max_concurrent_runs)"
                );
            }
        }
        if !board.stopping {
            self.start_due_locked(&mut board, now);
        }
    }

    /// Keeps a scheduled flow from starting before `until` (Unix ms): its vendor
    /// rate-limited the last run. Run-now is not held back.
    fn hold(&self, key: &FlowKey, until: u64) {
        if let Some(entry) = self.board().timetable.get_mut(key) {
            entry.not_before = entry.not_before.max(until);
            tracing::info!(tenant = %key.0, flow = %key.1, until, "Holding the flow for its vendor's rate limit");
        }
    }

    /// Starts no more runs, and asks running ones to stop after their batch.
    pub fn stop(&self) {
        self.board().stopping = true;
        self.stopped.cancel();
        self.tenon.shutdown();
        self.runs.close();
    }

    /// Waits until every run has ended; meaningful after [`Scheduler::stop`].
    pub async fn wait(&self) {
        self.runs.wait().await;
    }

    /// Runs `change` (a quick edit of the flow's state: its cursor, its
    /// removal) while no run of the flow can start; refused while one runs.
    pub fn while_idle<T>(
        &self,
        tenant: &str,
        flow: &str,
        change: impl FnOnce() -> crate::Result<T>,
    ) -> crate::Result<T> {
        let board = self.board();
        if board
            .running
            .contains_key(&(tenant.to_owned(), flow.to_owned()))
        {
            return Err(crate::Error::Busy(format!(
                "flow `{tenant}/{flow}` is running; try again once its run has ended"
            )));
        }
        let result = change();
        drop(board);
        result
    }

    /// The flows running now.
    pub fn running(&self) -> Vec<FlowKey> {
        self.board().running.keys().cloned().collect()
    }

    /// When a scheduled flow is next due, if it is in the timetable.
    pub fn due(&self, tenant: &str, flow: &str) -> Option<Due> {
        let key = (tenant.to_owned(), flow.to_owned());
        self.board().timetable.get(&key)?.due
    }
}

/// The flow's fixed share of the jitter window, in `[0, 1)`: the first 8 bytes of
/// SHA-256 of `tenant NUL flow`, as a fraction of 2^64.
pub fn jitter_share(tenant: &str, flow: &str) -> f64 {
    let digest = Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(flow.as_bytes())
        .finalize();
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    // The top 53 bits, so the division is exact and the result below 1.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The fire times strictly between `from` and `to`: those a run that served
/// `from` and is next due at `to` skipped. Counts at most 100,000.
pub fn fires_between(schedule: &Schedule, from: u64, to: u64) -> u64 {
    match schedule {
        Schedule::Every(interval) => {
            let period = interval.as_millis().max(1);
            (to.saturating_sub(from) / period).saturating_sub(1)
        }
        Schedule::Cron(cron) => {
            let mut count = 0;
            let mut fire = from;
            while count < 100_000 {
                match cron.next_after(fire) {
                    Some(next) if next < to => {
                        count += 1;
                        fire = next;
                    }
                    _ => break,
                }
            }
            count
        }
    }
}

/// The first due time later than `now` whose fire time is later than
/// `after_fire` (the fire time last run, if any); none if the schedule names no
/// later time.
pub fn next_due(
    schedule: &Schedule,
    share: f64,
    jitter: f64,
    after_fire: Option<u64>,
    now: u64,
) -> Option<Due> {
    let delay = |gap: u64| (share * jitter * gap as f64) as u64;
    match schedule {
        Schedule::Every(interval) => {
            let period = interval.as_millis();
            let offset = delay(period);
            // The first fire later than `after_fire` whose run is later than `now`.
            let floor = now.saturating_sub(offset).max(after_fire.unwrap_or(0));
            let fire = (floor / period + 1) * period;
            Some(Due {
                fire,
                at: fire + offset,
            })
        }
        Schedule::Cron(cron) => {
            // A delay is shorter than the gap to the following fire, so the fire
            // whose run is next due is at the earliest the last one up to `now`.
            let mut fire = match cron.last_at_or_before(now) {
                Some(last) => last,
                None => cron.next_after(now)?,
            };
            if let Some(after) = after_fire
                && fire <= after
            {
                fire = cron.next_after(after)?;
            }
            loop {
                let next = cron.next_after(fire);
                let at = fire + next.map_or(0, |next| delay(next - fire));
                if at > now {
                    return Some(Due { fire, at });
                }
                fire = next?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(s: &str) -> Schedule {
        Schedule::Every(s.parse().unwrap())
    }

    fn cron(s: &str) -> Schedule {
        Schedule::Cron(s.parse().unwrap())
    }

    #[test]
    fn jitter_shares_are_fixed_per_flow_and_spread() {
        assert_eq!(
            jitter_share("acme", "orders"),
            jitter_share("acme", "orders")
        );
        assert_ne!(
            jitter_share("acme", "orders"),
            jitter_share("globex", "orders")
        );
        // `tenant NUL flow`: the split between the names matters.
        assert_ne!(jitter_share("ab", "c"), jitter_share("a", "bc"));
        let shares: Vec<f64> = (0..200)
            .map(|i| jitter_share(&format!("tenant-{i}"), "orders"))
            .collect();
        assert!(shares.iter().all(|s| (0.0..1.0).contains(s)));
        let low = shares.iter().filter(|s| **s < 0.5).count();
        assert!((60..140).contains(&low), "{low} of 200 below one half");
    }

    #[test]
    fn intervals_fire_on_epoch_slots_plus_the_flow_delay() {
        let five_min = every("5m");
        // No jitter: the next multiple of 5 minutes.
        let due = next_due(&five_min, 0.5, 0.0, None, 1_000_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: 1_200_000,
                at: 1_200_000
            }
        );
        // Jitter 0.1 with share 0.5: 5% of 5 minutes = 15 s after each slot.
        let due = next_due(&five_min, 0.5, 0.1, None, 1_000_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: 1_200_000,
                at: 1_215_000
            }
        );
        // Within a slot's delay, that slot is still ahead.
        let due = next_due(&five_min, 0.5, 0.1, None, 1_205_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: 1_200_000,
                at: 1_215_000
            }
        );
        // ... unless it is the one just run.
        let due = next_due(&five_min, 0.5, 0.1, Some(1_200_000), 1_205_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: 1_500_000,
                at: 1_515_000
            }
        );
        // A run that overran several slots is next due at the first one ahead.
        let due = next_due(&five_min, 0.5, 0.1, Some(1_200_000), 2_000_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: 2_100_000,
                at: 2_115_000
            }
        );
        // Due times are strictly ahead.
        let due = next_due(&five_min, 0.5, 0.1, None, 1_215_000).unwrap();
        assert_eq!(due.at, 1_515_000);
    }

    #[test]
    fn cron_expressions_fire_at_their_times_in_utc_plus_the_flow_delay() {
        let every_five = cron("*/5 * * * *");
        // 2026-01-01T00:01:00Z.
        let start = 1_767_225_660_000;
        let due = next_due(&every_five, 0.5, 0.0, None, start).unwrap();
        assert_eq!(due.fire, start + 4 * 60_000);
        assert_eq!(due.at, due.fire);
        // Share 0.5 of jitter 0.2 of the 5 minutes to the next fire: 30 s.
        let due = next_due(&every_five, 0.5, 0.2, None, start).unwrap();
        assert_eq!(due.at, due.fire + 30_000);
        // 20 s after a fire, its run is still ahead (10 s later) ...
        let fired = start + 4 * 60_000;
        let due = next_due(&every_five, 0.5, 0.2, None, fired + 20_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: fired,
                at: fired + 30_000
            }
        );
        // ... and once run, the next fire is.
        let due = next_due(&every_five, 0.5, 0.2, Some(fired), fired + 31_000).unwrap();
        assert_eq!(
            due,
            Due {
                fire: fired + 300_000,
                at: fired + 330_000
            }
        );
        // Hours later, the first fire ahead.
        let later = fired + 3 * 3_600_000 + 1_000;
        let due = next_due(&every_five, 0.5, 0.2, Some(fired), later).unwrap();
        assert_eq!(due.fire, fired + 3 * 3_600_000);
        // Hourly at minute 0: the delay scales with the hour between fires, so
        // a minute past the hour that hour's run (6 minutes past) is still ahead.
        let hourly = cron("0 * * * *");
        let due = next_due(&hourly, 0.5, 0.2, None, start).unwrap();
        assert_eq!(due.fire, start - 60_000);
        assert_eq!(due.at, due.fire + 360_000);
    }

    fn scheduler(global: usize, per_tenant: usize) -> (tempfile::TempDir, Arc<Scheduler>) {
        let dir = tempfile::tempdir().unwrap();
        let tenon = Tenon::open(dir.path()).unwrap();
        let config = SchedulerConfig {
            max_concurrent_runs: global,
            max_concurrent_runs_per_tenant: per_tenant,
            ..SchedulerConfig::default()
        };
        (dir, Scheduler::new(tenon, config, Arc::default()))
    }

    // A current-thread runtime: spawned runs wait until the test awaits, so the
    // slots they hold can be looked at. (They then end at once: there are no
    // such tenants.)
    #[tokio::test(flavor = "current_thread")]
    async fn runs_are_refused_while_the_flow_runs_or_a_limit_is_reached() {
        let (_dir, scheduler) = scheduler(3, 2);
        let a = scheduler.run_now("acme", "a").unwrap();
        assert_eq!(
            scheduler.run_now("acme", "a").unwrap_err(),
            Refusal::AlreadyRunning("acme".into(), "a".into())
        );
        let b = scheduler.run_now("acme", "b").unwrap();
        assert_eq!(
            scheduler.run_now("acme", "c").unwrap_err(),
            Refusal::TenantLimit("acme".into(), 2)
        );
        let c = scheduler.run_now("globex", "a").unwrap();
        assert_eq!(
            scheduler.run_now("globex", "b").unwrap_err(),
            Refusal::GlobalLimit(3)
        );
        assert_eq!(scheduler.running().len(), 3);
        for run in [a, b, c] {
            let ended = run.await.unwrap();
            assert!(
                matches!(ended, Err(crate::Error::NotFound { .. })),
                "{ended:?}"
            );
        }
        assert!(scheduler.running().is_empty());
        scheduler
            .run_now("acme", "a")
            .unwrap()
            .await
            .unwrap()
            .unwrap_err();

        scheduler.stop();
        assert_eq!(
            scheduler.run_now("acme", "a").unwrap_err(),
            Refusal::ShuttingDown
        );
        scheduler.wait().await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_scheduled_flow_starts_when_due_and_never_twice_at_once() {
        let (_dir, scheduler) = scheduler(4, 2);
        let mut flow = crate::host::flow(
            "acme",
            "orders",
            "demo-shop:orders".parse().unwrap(),
            vec![],
            "demo-ledger:sale-orders".parse().unwrap(),
        );
        flow.schedule = Some(every("10s"));
        let unscheduled = crate::host::flow(
            "acme",
            "manual",
            "demo-shop:orders".parse().unwrap(),
            vec![],
            "demo-ledger:sale-orders".parse().unwrap(),
        );
        let flows = vec![flow, unscheduled];
        let now = 1_000_001_000;
        scheduler.tick(&flows, now);
        let due = scheduler.due("acme", "orders").expect("in the timetable");
        // The next 10 s slot, plus a delay under 10% of 10 s.
        assert_eq!(due.fire, 1_000_010_000);
        assert!(due.at >= due.fire && due.at < due.fire + 1_000, "{due:?}");
        assert_eq!(scheduler.due("acme", "manual"), None);
        assert!(scheduler.running().is_empty(), "not due yet");

        scheduler.tick(&flows, due.at);
        assert_eq!(scheduler.running(), vec![("acme".into(), "orders".into())]);
        // Still running on the next ticks, long after its next fire time: not
        // started again.
        scheduler.tick(&flows, due.at + 25_000);
        assert_eq!(scheduler.running().len(), 1);
        // Once it ended (the run's clock is the real one), it is next due at the
        // first due time ahead.
        let ended = now_ms();
        while !scheduler.running().is_empty() {
            tokio::task::yield_now().await;
        }
        let next = scheduler.due("acme", "orders").unwrap();
        assert!(next.at > ended && next.fire % 10_000 == 0, "{next:?}");

        // A flow whose schedule is removed leaves the timetable.
        scheduler.tick(&flows[1..], now);
        assert_eq!(scheduler.due("acme", "orders"), None);
    }

    #[test]
    fn a_rate_limited_flow_is_held_until_its_vendor_said() {
        let (_dir, scheduler) = scheduler(4, 2);
        let mut flow = crate::host::flow(
            "acme",
            "orders",
            "demo-shop:orders".parse().unwrap(),
            vec![],
            "demo-ledger:sale-orders".parse().unwrap(),
        );
        flow.schedule = Some(every("10s"));
        let now = 1_000_001_000;
        scheduler.tick(&[flow], now);
        let due = scheduler.due("acme", "orders").unwrap();
        let key = ("acme".to_owned(), "orders".to_owned());
        // The run at `due.at` was told to wait 25 s: the slots at +10 s and
        // +20 s are skipped, the next run is the first slot after the wait.
        scheduler.hold(&key, due.at + 25_000);
        scheduler.finish(&key, due.at + 100);
        let held = scheduler.due("acme", "orders").unwrap();
        assert_eq!(held.fire, due.fire + 30_000, "{held:?}");
        assert!(held.at >= due.at + 25_000, "{held:?}");
    }

    fn every_second(names: std::ops::Range<usize>) -> Vec<Flow> {
        names
            .map(|i| {
                let mut flow = crate::host::flow(
                    "acme",
                    &format!("f{i}"),
                    "demo-shop:orders".parse().unwrap(),
                    vec![],
                    "demo-ledger:sale-orders".parse().unwrap(),
                );
                flow.schedule = Some(every("1s"));
                flow
            })
            .collect()
    }

    async fn until_idle(scheduler: &Scheduler) {
        for _ in 0..200 {
            if scheduler.running().is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("runs still going: {:?}", scheduler.running());
    }

    // Real time: the runs end at once (there is no such tenant), and their
    // ends start the flows still waiting for a slot.
    #[tokio::test(flavor = "multi_thread")]
    async fn due_flows_start_as_slots_free_not_once_per_tick() {
        let (_dir, scheduler) = scheduler(4, 2);
        let flows = every_second(0..20);
        scheduler.tick(&flows, now_ms());
        let first: Vec<Due> = (0..20)
            .map(|i| scheduler.due("acme", &format!("f{i}")).unwrap())
            .collect();
        let latest = first.iter().map(|d| d.at).max().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(
            latest.saturating_sub(now_ms()) + 20,
        ))
        .await;
        // One tick: 2 runs may start (the tenant's share); the other 18 start
        // as those end, not a tick later each.
        scheduler.tick(&flows, now_ms());
        until_idle(&scheduler).await;
        for (i, before) in first.iter().enumerate() {
            let after = scheduler.due("acme", &format!("f{i}")).unwrap();
            assert!(after.fire > before.fire, "f{i} did not run: {after:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn fire_times_that_pass_without_a_run_are_counted_as_missed() {
        let (_dir, scheduler) = scheduler(4, 2);
        let flows = every_second(0..1);
        scheduler.tick(&flows, now_ms());
        let due = scheduler.due("acme", "f0").unwrap();
        // No tick for three more seconds (as if every slot were taken).
        tokio::time::sleep(std::time::Duration::from_millis(
            due.at.saturating_sub(now_ms()) + 3_000,
        ))
        .await;
        scheduler.tick(&flows, now_ms());
        until_idle(&scheduler).await;
        let text = scheduler.metrics.render();
        let missed = text
            .lines()
            .find(|l| l.starts_with(r#"tenon_schedule_missed_total{tenant="acme",flow="f0"}"#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
        assert!(
            matches!(missed, Some(2..=4)),
            "missed fire times: {missed:?}\n{text}"
        );
    }
}
