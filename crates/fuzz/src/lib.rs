//! Fuzz targets for every parser that reads hostile input, and a small deterministic runner.
//!
//! Each [`Target`] is one parser entry point as the product calls it (the hunt's log scan, EVTX
//! and JSON-lines intake, zip and gzip evidence, the service's feed parsers, the organisations
//! CSV, ASN files and MaxMind databases). The invariant is the same everywhere: whatever the
//! bytes, the parser returns an error or records (with skipped entries and a reason), never
//! panics, and never holds more memory than [`Target::max_peak`].
//!
//! Two ways to run them:
//! * [`run`]: seeded mutation of the committed seed corpus (`seeds/<target>/`) plus each
//!   target's structure-aware generator; deterministic and bounded, so it runs in `cargo test`
//!   (`tests/fuzz.rs`); `TASKFORCE_FUZZ_CASES` runs longer by hand.
//! * AFL++ (coverage-guided): `afl/main.rs`, built by `scripts/fuzz-afl.sh`.
//!
//! See `docs/fuzzing.md`.

pub mod meter;
pub mod mmdb;
pub mod mutate;
pub mod rng;
pub mod seedgen;
pub mod targets;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub use rng::Rng;
pub use targets::{TARGETS, target};

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    /// Inputs are cut to this many bytes (parsers stream; a case need not be large to find bugs).
    pub max_len: usize,
    /// Format tokens the mutator inserts (separators, directives, magic numbers).
    pub dict: &'static [&'static [u8]],
    /// Reads one input as the product would. Panics only when the parser breaks its contract.
    pub run: fn(&[u8]),
    /// A fresh input from the format's grammar (well-formed or nearly), for a quarter of the cases.
    pub generate: Option<fn(&mut Rng) -> Vec<u8>>,
    /// Repairs what the parser checks before anything else (EVTX CRC32s) in half of the mutated
    /// cases, so mutations reach the code behind the check.
    pub fixup: Option<fn(&mut Vec<u8>)>,
    /// Bytes one case may hold at its peak on the calling thread.
    pub max_peak: usize,
}

/// A case that broke the contract.
#[derive(Debug)]
pub struct Failure {
    pub case: String,
    pub message: String,
    /// The input, saved for replay (`seeds/<target>/crash-…` once fixed).
    pub saved: PathBuf,
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    pub target: &'static str,
    pub seeds: usize,
    pub cases: u64,
    pub elapsed: Duration,
    pub peak: usize,
    pub failures: Vec<Failure>,
}

/// The committed seed corpus.
pub fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

/// The seed files of `target`, sorted by name.
pub fn seeds(target: &Target) -> Vec<(String, Vec<u8>)> {
    let dir = seeds_dir().join(target.name);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("listing seeds").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

/// Case count from `TASKFORCE_FUZZ_CASES` (for long runs by hand), else `default`.
pub fn cases_from_env(default: u64) -> u64 {
    std::env::var("TASKFORCE_FUZZ_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Generator seed from `TASKFORCE_FUZZ_SEED` (new cases on a long run by hand), else fixed.
pub fn seed_from_env() -> u64 {
    std::env::var("TASKFORCE_FUZZ_SEED").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0x7a5f_0f0c_e12a_2021)
}

thread_local! {
    /// True while this thread runs a case: its panics are collected, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                LAST_LOCATION.with(|l| l.set(Some(Box::leak(at.into_boxed_str()))));
            } else {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static LAST_LOCATION: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Runs one input; `Err` describes a panic or an allocation over the target's limit.
pub fn run_one(target: &Target, input: &[u8]) -> Result<usize, String> {
    install_quiet_hook();
    let base = meter::live();
    meter::reset_peak();
    QUIET.with(|q| q.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    QUIET.with(|q| q.set(false));
    let peak = meter::peak_since(base);
    match result {
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            let at = LAST_LOCATION.with(|l| l.take()).unwrap_or("");
            Err(format!("panicked{at}: {text}"))
        }
        Ok(()) if peak > target.max_peak => {
            Err(format!("held {} KiB at its peak (limit {} KiB)", peak >> 10, target.max_peak >> 10))
        }
        Ok(()) => Ok(peak),
    }
}

/// Runs every seed of `target` as is, then `cases` mutated or generated inputs from `seed`.
/// Failing inputs are written to `crash_dir/<target>/`.
pub fn run(target: &Target, cases: u64, seed: u64, crash_dir: &Path) -> Summary {
    let started = Instant::now();
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "target {} has no seeds under {}", target.name, seeds_dir().display());
    let mut rng = Rng::new(seed ^ fnv(target.name));
    let mut failures = Vec::new();
    let mut peak = 0;
    let watchdog = Watchdog::start(target.name, crash_dir);
    let mut check = |case: String, input: &[u8], failures: &mut Vec<Failure>| match watchdog
        .case(&case, input, || run_one(target, input))
    {
        Ok(p) => peak = peak.max(p),
        Err(message) => {
            let dir = crash_dir.join(target.name);
            std::fs::create_dir_all(&dir).expect("crash directory");
            let saved = dir.join(format!("{}.bin", case.replace(['/', ' '], "_")));
            std::fs::write(&saved, input).expect("saving a failing input");
            failures.push(Failure { case, message, saved });
        }
    };
    for (name, bytes) in &seeds {
        check(format!("seed-{name}"), &bytes[..bytes.len().min(target.max_len)], &mut failures);
    }
    for case in 0..cases {
        let mut input = match target.generate {
            Some(generate) if rng.one_in(4) => {
                let mut fresh = generate(&mut rng);
                if rng.one_in(2) {
                    let other = &rng.pick(&seeds).1.clone();
                    mutate::mutate(&mut fresh, &mut rng, target.dict, other, target.max_len);
                }
                fresh
            }
            _ => {
                let mut input = rng.pick(&seeds).1.clone();
                input.truncate(target.max_len);
                let other = rng.pick(&seeds).1.clone();
                mutate::mutate(&mut input, &mut rng, target.dict, &other, target.max_len);
                input
            }
        };
        if let Some(fixup) = target.fixup
            && rng.one_in(2)
        {
            fixup(&mut input);
        }
        input.truncate(target.max_len);
        check(format!("case-{seed:x}-{case}"), &input, &mut failures);
    }
    Summary { target: target.name, seeds: seeds.len(), cases, elapsed: started.elapsed(), peak, failures }
}

/// Seconds one case may run before the run is stopped as hung (`TASKFORCE_FUZZ_HANG_SECS`).
fn hang_limit() -> Duration {
    let secs = std::env::var("TASKFORCE_FUZZ_HANG_SECS").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(30);
    Duration::from_secs(secs)
}

/// The case running now: its name, its input and when it started.
type Running = Arc<Mutex<Option<(String, Vec<u8>, Instant)>>>;

/// A case that never ends cannot be caught like a panic: a watchdog thread saves its input and
/// aborts the process with the path, so an endless loop fails the test run instead of hanging it.
struct Watchdog {
    current: Running,
    done: Arc<Mutex<bool>>,
}

impl Watchdog {
    fn start(target: &'static str, crash_dir: &Path) -> Watchdog {
        let current: Running = Arc::default();
        let done: Arc<Mutex<bool>> = Arc::default();
        let (watched, finished, dir) = (current.clone(), done.clone(), crash_dir.join(target));
        let limit = hang_limit();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                if *finished.lock().unwrap_or_else(|e| e.into_inner()) {
                    return;
                }
                let guard = watched.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((case, input, since)) = guard.as_ref()
                    && since.elapsed() > limit
                {
                    let _ = std::fs::create_dir_all(&dir);
                    let saved = dir.join(format!("hang-{case}.bin"));
                    let _ = std::fs::write(&saved, input);
                    eprintln!(
                        "fuzz {target}: {case} still running after {limit:?}; input saved as {}",
                        saved.display()
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog { current, done }
    }

    fn case<T>(&self, case: &str, input: &[u8], f: impl FnOnce() -> T) -> T {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((case.to_string(), input.to_vec(), Instant::now()));
        let out = f();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        out
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

/// FNV-1a, so each target draws its own sequence from one seed.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
