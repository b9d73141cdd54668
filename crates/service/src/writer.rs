//! Group commit: the server's frequent writes (feed and hunt-report uploads, contacts,
//! remediations, communication steps) go to one writer, which takes every write queued at that
//! moment, runs each in a savepoint of one transaction and commits them together. Each request
//! gets its own answer: a write that fails is rolled back to its savepoint and answered with its
//! error, and the others in the group still commit.
//!
//! Why: the database takes one writer at a time anyway (SQLite's lock, the advisory lock on
//! PostgreSQL), so what limits writes per second is the fixed cost around each one — a
//! transaction, the write lock, a commit (a WAL flush on PostgreSQL) — and the hand-over from
//! one waiting request to the next. Grouping pays that once per group.
//!
//! The writer runs on a thread of its own with its own runtime and its own connection: under a
//! read-heavy load the server's runtime has hundreds of tasks ready, and a writer that was one of
//! them waited behind all of them after every statement (a 5-row upload is about 30 statements).
//!
//! A write waits at most [`Writer::wait`] for its turn and at most [`Writer::max_waiting`]
//! writes are queued; beyond that it is refused with [`Busy`] (the API answers 503 with
//! `Retry-After`), and a refused or abandoned write (its request went away) is never run.
//! Work inside a write must use only the transaction it is given (and reads of the pool): a
//! write that queued another write and waited for it would wait for itself.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::db::Dialect;

/// A write's work: given the group's transaction (locked for writing), it does its writes.
pub type WriteFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;

/// Where writes wait for the writer's thread.
type Queue = mpsc::Sender<Box<dyn Job>>;

/// How a run write is answered once its group is done (with the commit's error, if any).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// The writer refused a write: too many queued, or no turn in time. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[error("busy: {0}; try again shortly")]
pub struct Busy(pub String);

/// Writes at most this many in one transaction (a group is what was queued when it started).
const MAX_GROUP: usize = 64;

/// The writer of one database (cheap to clone; started on first use).
#[derive(Clone)]
pub struct Writer {
    url: Arc<str>,
    dialect: Dialect,
    queue: Arc<Mutex<Option<Queue>>>,
    /// Writes allowed to wait; one more is refused at once.
    pub max_waiting: usize,
    /// How long a write waits for its turn before it is refused.
    pub wait: Duration,
    stats: Arc<Mutex<WriterStats>>,
}

/// What the writer has done so far (for tests, logs and the load benchmark's profile).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub groups: u64,
    pub writes: u64,
    pub failed: u64,
    pub refused: u64,
    /// The largest group committed.
    pub largest_group: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("dialect", &self.dialect).field("max_waiting", &self.max_waiting).finish()
    }
}

/// One queued write, its result type erased.
trait Job: Send {
    /// The request that queued it has gone (timed out, disconnected): do not run it.
    fn abandoned(&self) -> bool;
    fn queued_at(&self) -> Instant;
    /// Runs the work; returns whether it succeeded and how to answer once the group is done.
    fn run<'t>(
        self: Box<Self>,
        tx: &'t mut Transaction<'static, Any>,
    ) -> Pin<Box<dyn Future<Output = Done> + Send + 't>>;
    /// Answers without running: refused ([`Busy`]) or the writer could not start a group.
    fn refuse(self: Box<Self>, why: anyhow::Error);
}

/// A run write: `ok` is false when it failed (its savepoint is rolled back); `answer` is called
/// with the group's commit error, if any.
struct Done {
    ok: bool,
    answer: Answer,
}

struct Pending<T, E, F> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
    queued_at: Instant,
}

impl<T, E, F> Job for Pending<T, E, F>
where
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
    F: for<'t> FnOnce(&'t mut Transaction<'static, Any>) -> WriteFuture<'t, T, E> + Send + 'static,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn run<'t>(
        self: Box<Self>,
        tx: &'t mut Transaction<'static, Any>,
    ) -> Pin<Box<dyn Future<Output = Done> + Send + 't>> {
        let Pending { work, reply, .. } = *self;
        Box::pin(async move {
            let result = work(tx).await;
            let ok = result.is_ok();
            let answer = Box::new(move |commit_error: Option<&str>| {
                let answer = match (result, commit_error) {
                    (Ok(_), Some(e)) => Err(E::from(anyhow::anyhow!("the write was not committed: {e}"))),
                    (result, _) => result,
                };
                let _ = reply.send(answer);
            });
            Done { ok, answer }
        })
    }

    fn refuse(self: Box<Self>, why: anyhow::Error) {
        let _ = self.reply.send(Err(E::from(why)));
    }
}

impl Writer {
    /// The writer of the database at `url` (nothing is opened until the first write).
    pub fn new(url: &str, dialect: Dialect) -> Writer {
        Writer {
            url: Arc::from(url),
            dialect,
            queue: Arc::default(),
            max_waiting: 1024,
            wait: Duration::from_secs(60),
            stats: Arc::default(),
        }
    }

    /// Writes queued and not yet taken into a group.
    pub fn queued(&self) -> usize {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.as_ref().map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// What the writer did so far.
    pub fn stats(&self) -> WriterStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work` and waits for its answer: its own result once the group it ran in has
    /// committed, its own error if it failed (nothing of it written), [`Busy`] (as `E`) if it
    /// was refused, or the commit's error.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Transaction<'static, Any>) -> WriteFuture<'t, T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending { work, reply, queued_at: Instant::now() });
        let sender = self.sender().map_err(E::from)?;
        match sender.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.lock().unwrap_or_else(|e| e.into_inner()).refused += 1;
                return Err(E::from(anyhow::Error::new(Busy(format!(
                    "{} writes are already waiting",
                    self.max_waiting
                )))));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The writer's thread stopped (its runtime failed): start another next time.
                *self.queue.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return Err(E::from(anyhow::anyhow!("the database writer stopped")));
            }
        }
        answer.await.map_err(|_| E::from(anyhow::anyhow!("the database writer stopped before answering")))?
    }

    /// The queue, starting the writer's thread on first use.
    fn sender(&self) -> Result<Queue> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = queue.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let (sender, receiver) = mpsc::channel(self.max_waiting.max(1));
        let (url, dialect, wait, stats) = (self.url.clone(), self.dialect, self.wait, self.stats.clone());
        std::thread::Builder::new()
            .name("taskforce-writer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the database writer");
                        return;
                    }
                };
                runtime.block_on(write_loop(url, dialect, receiver, wait, stats));
            })
            .context("starting the database writer's thread")?;
        *queue = Some(sender.clone());
        Ok(sender)
    }
}

/// The writer's thread: one connection, one group at a time, until every sender is gone.
async fn write_loop(
    url: Arc<str>,
    dialect: Dialect,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    wait: Duration,
    stats: Arc<Mutex<WriterStats>>,
) {
    let mut pool = None;
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // A request that went away is not written; one that waited too long is refused.
        let mut runnable = Vec::with_capacity(group.len());
        for job in group {
            if job.abandoned() {
                continue;
            }
            if job.queued_at().elapsed() > wait {
                stats.lock().unwrap_or_else(|e| e.into_inner()).refused += 1;
                job.refuse(Busy(format!("no turn to write within {} s", wait.as_secs())).into());
                continue;
            }
            runnable.push(job);
        }
        if runnable.is_empty() {
            continue;
        }
        if pool.is_none() {
            match open(&url, dialect).await {
                Ok(p) => pool = Some(p),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the database writer cannot connect");
                    for job in runnable {
                        job.refuse(anyhow::anyhow!("the database writer cannot connect: {e:#}"));
                    }
                    continue;
                }
            }
        }
        let pool = pool.as_ref().expect("opened above");
        run_group(pool, dialect, runnable, &stats).await;
    }
}

/// The writer's own pool of one connection, set up like the server's (`db::prepare`).
async fn open(url: &str, dialect: Dialect) -> Result<sqlx::AnyPool> {
    use sqlx::ConnectOptions;
    // Its own connection to an in-memory SQLite database would be another, empty database.
    anyhow::ensure!(!url.contains(":memory:"), "group commit needs a database file, not an in-memory database");
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(&crate::db::normalise_url(url))?.disable_statement_logging();
    AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .after_connect(move |conn, _| Box::pin(async move { crate::db::prepare_connection(conn, dialect).await }))
        .connect_with(options)
        .await
        .with_context(|| format!("the database writer cannot open {}", crate::db::redact(url)))
}

/// One group: a transaction, the write lock, each write in a savepoint, one commit.
async fn run_group(pool: &sqlx::AnyPool, dialect: Dialect, jobs: Vec<Box<dyn Job>>, stats: &Mutex<WriterStats>) {
    let started = Instant::now();
    let count = jobs.len();
    let mut waiting: std::collections::VecDeque<Box<dyn Job>> = jobs.into();
    let mut answers: Vec<Done> = Vec::with_capacity(count);
    let mut failed = 0u64;
    let outcome: Result<()> = async {
        let mut tx = crate::db::begin_bulk_write(pool, dialect).await?;
        while let Some(job) = waiting.pop_front() {
            sqlx::query("SAVEPOINT tf_write").execute(&mut *tx).await?;
            let done = job.run(&mut tx).await;
            let ok = done.ok;
            answers.push(done);
            if !ok {
                failed += 1;
                sqlx::query("ROLLBACK TO SAVEPOINT tf_write").execute(&mut *tx).await?;
            }
            sqlx::query("RELEASE SAVEPOINT tf_write").execute(&mut *tx).await?;
        }
        let run_ms = started.elapsed().as_secs_f64() * 1000.0;
        let committing = Instant::now();
        tx.commit().await?;
        tracing::debug!(
            writes = count,
            failed,
            run_ms,
            commit_ms = committing.elapsed().as_secs_f64() * 1000.0,
            "group commit"
        );
        Ok(())
    }
    .await;
    let commit_error = outcome.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(e) = &commit_error {
        tracing::error!(error = %e, writes = count, "a group of writes failed to commit");
    }
    {
        let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
        s.groups += 1;
        s.writes += count as u64;
        s.failed += if commit_error.is_some() { count as u64 } else { failed };
        s.largest_group = s.largest_group.max(count as u64);
    }
    for done in answers {
        (done.answer)(commit_error.as_deref());
    }
    // Writes the broken group never reached: nothing of them was written.
    for job in waiting {
        job.refuse(anyhow::anyhow!(
            "the write was not run: {}",
            commit_error.as_deref().unwrap_or("the group stopped")
        ));
    }
}
