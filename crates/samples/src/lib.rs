//! Deterministic generator of realistic **synthetic** evidence for one Microsoft Exchange server:
//! the project's own sample data for the README demo, end-to-end tests and benchmarks.
//!
//! [`generate`] writes one server's collected logs for a [`Scenario`] in one of the collection
//! [`Layout`]s (Exchange install tree, KAPE, Velociraptor, a non-default `D:\Exchange` install),
//! as a directory or a zip. [`generate_bulk`] writes a large benchmark corpus of busy
//! HttpProxy and IIS logs with a handful of attack lines.
//!
//! Everything is text we write ourselves: attack strings are inert log text modelled on public
//! descriptions (detections.md in the project's reference material), attackers use the
//! documentation ranges 203.0.113.0/24, 198.51.100.0/24 and 192.0.2.0/24, internal clients
//! 10.0.0.0/8, and the organisation is `contoso.com` / `contoso.local`. Same spec and seed, same
//! bytes.
//!
//! ```no_run
//! use taskforce_samples::{generate, Layout, SampleSpec, Scenario};
//! let spec = SampleSpec::new(Scenario::Compromised, Layout::Kape);
//! let summary = generate(&spec, std::path::Path::new("samples/compromised-kape")).unwrap();
//! println!("{} files, {} bytes, {} attack lines", summary.files, summary.bytes, summary.attack_lines);
//! ```

mod bulk;
pub use bulk::BulkMix;
mod ctx;
mod events;
mod model;
mod out;
mod plan;
mod render;
mod rng;
mod sample;
mod time;
mod traffic;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// What happened to the simulated server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Exchange 2016 CU19 without the March 2021 SU, hit by a full ProxyLogon chain on
    /// 2021-03-03 and a web shell used afterwards.
    Compromised,
    /// Exchange 2019 CU8 with the March 2021 SU: ProxyLogon, ProxyShell and
    /// ProxyNotShell-style attempts that all failed.
    Attempted,
    /// Exchange 2016 CU22 Nov22SU, busy, with only the known false-positive traps.
    Clean,
    /// Only a few benign IIS logs: not enough to judge.
    Inconclusive,
}

impl Scenario {
    pub const ALL: [Scenario; 4] =
        [Scenario::Compromised, Scenario::Attempted, Scenario::Clean, Scenario::Inconclusive];

    /// The verdict `taskforce hunt` is expected to reach (`compromised`, `attempted`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Compromised => "compromised",
            Scenario::Attempted => "attempted",
            Scenario::Clean => "clean",
            Scenario::Inconclusive => "inconclusive",
        }
    }

    /// The Exchange build the scenario's logs show, or `None` when no Exchange log is written.
    pub fn exchange_build(self) -> Option<&'static str> {
        match self {
            Scenario::Compromised => Some("15.1.2176.2"),
            Scenario::Attempted => Some("15.2.792.10"),
            Scenario::Clean => Some("15.1.2375.37"),
            Scenario::Inconclusive => None,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown scenario {s:?} (compromised, attempted, clean, inconclusive)"))
    }
}

/// How the evidence was collected: only the roots differ, the log paths below them are
/// Exchange's and IIS's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// The C: drive copied as is: `Program Files/Microsoft/Exchange Server/V15/…`, `inetpub/…`.
    ExchangeTree,
    /// A KAPE target output: `C/Program Files/…`, `C/inetpub/…`.
    Kape,
    /// A Velociraptor offline collection: `uploads/auto/C%3A/…` (a literal `%3A`).
    Velociraptor,
    /// Loose copies from a non-default install: `D/Exchange/Logging/…`, IIS logs moved to
    /// `D/IISLogs/W3SVC1/…`.
    Loose,
}

impl Layout {
    pub const ALL: [Layout; 4] = [Layout::ExchangeTree, Layout::Kape, Layout::Velociraptor, Layout::Loose];

    pub fn name(self) -> &'static str {
        match self {
            Layout::ExchangeTree => "exchange-tree",
            Layout::Kape => "kape",
            Layout::Velociraptor => "velociraptor",
            Layout::Loose => "loose",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Layout::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown layout {s:?} (exchange-tree, kape, velociraptor, loose)"))
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSpec {
    pub scenario: Scenario,
    pub layout: Layout,
    /// The server's NetBIOS name, e.g. `EXCH01` (ServerHostName, ServerName, FQDN
    /// `<host>.contoso.local`).
    pub host: String,
    pub seed: u64,
    /// Benign rows in each HttpProxy and IIS file. The low-volume logs (ECP Server,
    /// OABGenerator, Rps cmdlet) get a quarter of it, at least 6 (none when this is 0).
    pub benign_lines_per_file: usize,
    /// Days of logs around each attack window (at least 1).
    pub days: u32,
    /// Write a deflated `.zip` at the output path instead of a directory.
    pub zip: bool,
}

impl SampleSpec {
    /// Host `EXCH01`, seed 1, 100 benign lines per file, 3 days, a directory.
    pub fn new(scenario: Scenario, layout: Layout) -> Self {
        SampleSpec {
            scenario,
            layout,
            host: "EXCH01".to_string(),
            seed: 1,
            benign_lines_per_file: 100,
            days: 3,
            zip: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    /// Uncompressed bytes of all files.
    pub bytes: u64,
    /// Planted attack rows (exploit attempts, SSRF, web-shell requests, …); scanner probes and
    /// false-positive traps are not counted.
    pub attack_lines: usize,
}

impl Summary {
    fn add(&mut self, o: Summary) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.attack_lines += o.attack_lines;
    }
}

/// Writes the evidence of one server. `out` is a directory to create (or fill), or with
/// `spec.zip` the path of the `.zip` file to write.
pub fn generate(spec: &SampleSpec, out: &Path) -> std::io::Result<Summary> {
    sample::generate(spec, out)
}

/// Writes a benchmark corpus of at least `target_bytes` under `out_dir` (an Exchange install
/// tree): HttpProxy logs of several protocol folders and IIS W3SVC1/W3SVC2 logs of a busy
/// server, 64–256 MB per file for large targets (smaller for small targets), with about ten
/// attack lines spread across files. Files are streamed through buffered writers on two
/// threads; nothing is held in memory.
pub fn generate_bulk(out_dir: &Path, target_bytes: u64, seed: u64) -> std::io::Result<Summary> {
    bulk::generate_bulk(out_dir, target_bytes, seed, BulkMix::Sparse)
}

/// [`generate_bulk`] with a choice of mix: [`BulkMix::Dense`] adds scanner probes on one line in
/// ten (the benchmark of the hunt's per-line work, where the prefilter lets many lines through).
pub fn generate_bulk_mix(out_dir: &Path, target_bytes: u64, seed: u64, mix: BulkMix) -> std::io::Result<Summary> {
    bulk::generate_bulk(out_dir, target_bytes, seed, mix)
}
