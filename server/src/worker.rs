//! The job runner: claims due jobs and runs them, several at a time, until
//! told to stop. Runs inside `serve` and alone under `privacy-portal worker`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::jobs::handlers::{self, JobContext};
use app::backend::jobs::{self, worker_name};
use app::backend::models::job::JobRow;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How a worker behaves.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// Pause between polls when the queue is empty.
    pub idle_poll: Duration,
    /// How long to let running jobs finish on shutdown before giving their
    /// leases back.
    pub shutdown_grace: Duration,
}

impl WorkerOptions {
    /// Defaults with `concurrency` jobs at once.
    pub fn with_concurrency(concurrency: usize) -> Self {
        Self {
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
        }
    }

    /// The same with claims lasting `lease`.
    pub fn with_lease(self, lease: Duration) -> Self {
        Self {
            lease: lease.max(Duration::from_secs(2)),
            ..self
        }
    }
}

/// Runs jobs until `shutdown` is cancelled, then lets running jobs finish for
/// the grace period and releases the leases of any still running.
pub async fn run(ctx: JobContext, options: WorkerOptions, shutdown: CancellationToken) {
    let name: Arc<str> = worker_name().into();
    tracing::info!(worker = %name, concurrency = options.concurrency, "worker started");
    let ctx = Arc::new(ctx);
    let mut running: JoinSet<()> = JoinSet::new();
    // Expired leases are looked for at least twice per lease period.
    let mut housekeeping = tokio::time::interval((options.lease / 2).min(Duration::from_secs(30)));
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_claim = Instant::now();

    while !shutdown.is_cancelled() {
        while running.try_join_next().is_some() {}
        let free = options.concurrency.saturating_sub(running.len());
        // While jobs run, a claim waits until half the slots are free or an
        // idle poll has passed: one claim then takes several jobs, instead
        // of one claim per finished job under a backlog, and long jobs do
        // not hold back the others.
        let claim_now = free > 0
            && (running.is_empty()
                || free * 2 >= options.concurrency
                || last_claim.elapsed() >= options.idle_poll);
        let mut claimed = 0;
        if claim_now {
            last_claim = Instant::now();
            match jobs::claim(&ctx.db, &name, free as i64, options.lease).await {
                Ok(batch) => {
                    claimed = batch.len();
                    for job in batch {
                        running.spawn(run_one(ctx.clone(), name.clone(), job, options.lease));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed; retrying"),
            }
        }
        let waiting_for_slots = !running.is_empty() && !claim_now;
        // A full batch suggests more jobs are due: claim again at once.
        let more_due = claim_now && claimed == free;
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = housekeeping.tick() => {
                if let Err(e) = jobs::reap_expired_leases(&ctx.db).await {
                    tracing::warn!(error = %e, "reaping expired leases failed");
                }
                if let Err(e) = handlers::schedule_periodic(&ctx.db).await {
                    tracing::warn!(error = %e, "scheduling periodic jobs failed");
                }
                match app::backend::audit::seal_all_queued(&ctx.db).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sealed = n, "sealed audit events left queued"),
                    Err(e) => tracing::warn!(error = %e, "sealing queued audit events failed"),
                }
            }
            Some(_) = running.join_next(), if waiting_for_slots => {}
            () = std::future::ready(()), if more_due => {}
            () = tokio::time::sleep(options.idle_poll), if !more_due => {}
        }
    }

    tracing::info!(worker = %name, running = running.len(), "worker stopping");
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
    match jobs::release(&ctx.db, &name).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(released = n, "gave back leases of unfinished jobs"),
        Err(e) => tracing::warn!(error = %e, "releasing leases failed; they expire by themselves"),
    }
    tracing::info!(worker = %name, "worker stopped");
}

/// Runs one job, renewing its lease while it runs.
async fn run_one(ctx: Arc<JobContext>, worker: Arc<str>, job: JobRow, lease: Duration) {
    let heartbeat = {
        let db = ctx.db.clone();
        let worker = worker.clone();
        let id = job.id;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                if !matches!(jobs::extend_lease(&db, id, &worker, lease).await, Ok(true)) {
                    break;
                }
            }
        })
    };
    let result = handlers::run(&ctx, &job, &worker).await;
    heartbeat.abort();
    match result {
        Ok(true) => tracing::debug!(job = job.id, kind = %job.kind, "job done"),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(job = job.id, kind = %job.kind, error = %e, "recording the job's outcome failed")
        }
    }
}
