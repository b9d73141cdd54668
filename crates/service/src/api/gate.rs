//! Admission of writes: one writing request at a time per server, and a bounded, timed wait for
//! the others — before they take a database connection.
//!
//! Every write is serialised by the database anyway (`Db::lock_for_write`: PostgreSQL's advisory
//! lock, SQLite's single writer). Without this gate, each waiting writer held a pool connection
//! while it waited for that lock, so under a mixed load the pool filled with idle writers and
//! reads queued behind them for tens of seconds. Through the gate, at most one request's writes
//! hold connections; the rest of the pool is the readers'. A writer that cannot get in within
//! [`WriteGate::wait`], or finds [`WriteGate::max_waiting`] writers already queued, is answered
//! 503 with `Retry-After` instead of piling up.
//!
//! Uploads pass the gate only once their body is on disk ([`WriteGate::enter`] from the
//! handler), so a slow sender never holds it; every other write (POST, PUT, PATCH, DELETE) is
//! admitted by the [`admit_writes`] middleware around the whole request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// Writers admitted at once: the database takes one at a time anyway.
const WRITERS: usize = 1;

/// The gate (cheap to clone: shared state).
#[derive(Clone, Debug)]
pub struct WriteGate {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    /// Writers allowed to wait; one more is refused at once.
    pub max_waiting: usize,
    /// How long a writer waits before it is refused.
    pub wait: Duration,
}

impl Default for WriteGate {
    fn default() -> Self {
        WriteGate::new(256, Duration::from_secs(60))
    }
}

/// Being let in: writes may go ahead while this is held.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl WriteGate {
    pub fn new(max_waiting: usize, wait: Duration) -> WriteGate {
        WriteGate {
            permits: Arc::new(Semaphore::new(WRITERS)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            wait,
        }
    }

    /// Waits for this request's turn to write; a 503 when the queue is full or the wait too long.
    pub async fn enter(&self) -> Result<Admitted, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(Admitted { _permit: permit });
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy(format!("{} writes are already waiting", self.max_waiting)));
        }
        let got = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match got {
            Ok(Ok(permit)) => Ok(Admitted { _permit: permit }),
            Ok(Err(_)) => Err(busy("the server is stopping".into())),
            Err(_) => Err(busy(format!("no turn to write within {} s", self.wait.as_secs()))),
        }
    }

    /// Writers waiting now (for tests and logs).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

fn busy(why: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("busy: {why}; try again shortly"))
}

/// Whether a request may change something (and so goes through the gate).
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware: a write request holds the gate for its whole handling; reads pass straight on.
/// Routes that let themselves in later (uploads: after the body is spooled) are not wrapped.
pub async fn admit_writes(State(gate): State<WriteGate>, req: Request, next: Next) -> Response {
    if !is_write(req.method()) {
        return next.run(req).await;
    }
    match gate.enter().await {
        Ok(_admitted) => next.run(req).await,
        Err(e) => {
            let mut r = e.into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_writer_at_a_time_and_a_bounded_queue() {
        let gate = WriteGate::new(1, Duration::from_millis(200));
        let first = gate.enter().await.expect("the first writer gets in");
        // One may wait; it times out while the first holds the gate.
        let waited = tokio::time::Instant::now();
        let e = gate.enter().await.expect_err("no turn while the first writes");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(waited.elapsed() >= Duration::from_millis(200));
        // With one already waiting, the next is refused at once.
        let g2 = gate.clone();
        let waiter = tokio::spawn(async move { g2.enter().await.map(|_| ()) });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = tokio::time::Instant::now();
        assert!(gate.enter().await.is_err());
        assert!(refused.elapsed() < Duration::from_millis(100), "a full queue answers at once");
        drop(first);
        waiter.await.unwrap().expect("the waiter gets in once the first is done");
        assert!(gate.enter().await.is_ok(), "the gate is free again");
    }
}
