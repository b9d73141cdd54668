//! A run over a target list: bounded concurrency, results handed over as they finish, clean stop
//! on cancellation.
//!
//! Targets are drawn lazily from [`TargetList::iter`] and a new probe is spawned only when one of
//! the `concurrency` running probes has finished, so memory holds at most `concurrency` probes
//! and their connections, whatever the list's size (a /16 is 65,536 targets).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use crate::client::{ErrorKind, ProbeError};
use crate::probe::{Options, Prober};
use crate::record::Record;
use crate::targets::{Target, TargetList};

/// Counts of a run, for the closing line on standard error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    pub done: u64,
    pub reachable: u64,
    pub exchange: u64,
    /// Exchange servers with at least one family `vulnerable`.
    pub vulnerable: u64,
    /// Targets whose record has an `error`.
    pub errors: u64,
    /// Stopped by the cancel future before every target was done.
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl Summary {
    fn count(&mut self, record: &Record) {
        self.done += 1;
        self.reachable += u64::from(record.reachable);
        self.exchange += u64::from(record.exchange);
        self.vulnerable += u64::from(record.vulnerable());
        self.errors += u64::from(record.error.is_some());
    }
}

/// Probes every target with at most `concurrency` at once, calling `sink` with each record as it
/// completes (in completion order). When `cancel` completes, no new probe starts, probes in
/// flight are abandoned (their targets are not reported), and the summary says `interrupted`.
/// A `sink` error (output closed) stops the run and is returned.
pub async fn run<C, S>(
    targets: &TargetList,
    prober: Arc<Prober>,
    concurrency: usize,
    mut sink: S,
    cancel: C,
) -> io::Result<Summary>
where
    C: Future<Output = ()>,
    S: FnMut(&Record) -> io::Result<()>,
{
    let started = Instant::now();
    let concurrency = concurrency.max(1);
    let mut summary = Summary { total: targets.len(), ..Summary::default() };
    let mut pending = targets.iter();
    let mut running: JoinSet<Record> = JoinSet::new();
    // The target of each running probe, to report a probe that panicked instead of losing it.
    let mut in_flight: HashMap<Id, Target> = HashMap::new();
    let mut cancel = std::pin::pin!(cancel);
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < concurrency {
            match pending.next() {
                Some(target) => {
                    let prober = prober.clone();
                    let job = target.clone();
                    let handle = running.spawn(async move { prober.probe(&job).await });
                    in_flight.insert(handle.id(), target);
                }
                None => exhausted = true,
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = &mut cancel => {
                running.abort_all();
                while running.join_next().await.is_some() {}
                summary.interrupted = true;
                break;
            }
            Some(joined) = running.join_next_with_id() => {
                let record = match joined {
                    Ok((id, record)) => {
                        in_flight.remove(&id);
                        record
                    }
                    Err(e) => {
                        let target = in_flight.remove(&e.id());
                        match target {
                            Some(target) if e.is_panic() => internal_error(&target, &e.to_string()),
                            _ => continue,
                        }
                    }
                };
                summary.count(&record);
                if let Err(e) = sink(&record) {
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    return Err(e);
                }
            }
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The record of a probe that panicked: a bug, reported for that target and not fatal to the run.
fn internal_error(target: &Target, message: &str) -> Record {
    let mut record = Record::new(target);
    record.error = Some(ProbeError::new(ErrorKind::Internal, format!("internal error (please report): {message}")));
    record
}

/// Runs a whole probe on its own multi-threaded runtime until done or until Ctrl-C (SIGINT),
/// for callers that are not async (the `taskforce` binary). On Ctrl-C the summary says
/// `interrupted`; every record handed to `sink` before that was complete.
pub fn run_until_ctrl_c<S>(targets: &TargetList, options: Options, concurrency: usize, sink: S) -> io::Result<Summary>
where
    S: FnMut(&Record) -> io::Result<()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let prober = Arc::new(Prober::new(options).map_err(io::Error::other)?);
        let interrupted = async {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling here: run to the end.
                std::future::pending::<()>().await;
            }
        };
        run(targets, prober, concurrency, sink, interrupted).await
    });
    // Name look-ups still blocking in the resolver's threads must not delay the exit.
    runtime.shutdown_background();
    result
}
