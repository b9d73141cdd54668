//! Every parser of hostile input, fuzzed: the committed seeds as they are, then seeded mutations
//! and generated inputs (`TASKFORCE_FUZZ_CASES` per target, default below; `TASKFORCE_FUZZ_SEED`
//! for new cases). A failing input is saved under the test's temp directory and named in the
//! message; once fixed, it is committed as `seeds/<target>/crash-<what>.<ext>`.

use std::path::Path;

use taskforce_fuzz::meter::Meter;
use taskforce_fuzz::{TARGETS, cases_from_env, run, seed_from_env, seedgen, target};

#[global_allocator]
static METER: Meter = Meter;

/// Cases per target in the default run: the whole file stays well under a minute in a debug
/// build on two cores (measured figures in docs/fuzzing.md).
const DEFAULT_CASES: u64 = 400;

fn fuzz(name: &str) {
    let target = target(name).unwrap_or_else(|| panic!("no target {name}"));
    let crash_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let summary = run(target, cases_from_env(DEFAULT_CASES), seed_from_env(), &crash_dir);
    eprintln!(
        "fuzz {}: {} seeds + {} cases in {:.2?}, peak {} KiB, {} failures",
        summary.target,
        summary.seeds,
        summary.cases,
        summary.elapsed,
        summary.peak >> 10,
        summary.failures.len()
    );
    if !summary.failures.is_empty() {
        let list: Vec<String> = summary
            .failures
            .iter()
            .take(20)
            .map(|f| format!("  {}: {}\n    saved as {}", f.case, f.message, f.saved.display()))
            .collect();
        panic!("{} of {} inputs broke {}:\n{}", summary.failures.len(), summary.cases, name, list.join("\n"));
    }
}

#[test]
fn w3c() {
    fuzz("w3c");
}

#[test]
fn exchange_csv() {
    fuzz("exchange-csv");
}

#[test]
fn event_jsonl() {
    fuzz("event-jsonl");
}

#[test]
fn evtx() {
    fuzz("evtx");
}

#[test]
fn zip() {
    fuzz("zip");
}

#[test]
fn gz() {
    fuzz("gz");
}

#[test]
fn shadowserver() {
    fuzz("shadowserver");
}

#[test]
fn intelmq() {
    fuzz("intelmq");
}

#[test]
fn probe() {
    fuzz("probe");
}

#[test]
fn hunt_report() {
    fuzz("hunt-report");
}

#[test]
fn orgs_csv() {
    fuzz("orgs-csv");
}

#[test]
fn asn_text() {
    fuzz("asn-text");
}

#[test]
fn mmdb() {
    fuzz("mmdb");
}

/// One test per target above, and a seed folder for each.
#[test]
fn every_target_has_a_test_and_seeds() {
    let source = include_str!("fuzz.rs");
    for t in TARGETS {
        assert!(source.contains(&format!("fuzz(\"{}\")", t.name)), "target {} has no test", t.name);
        assert!(!taskforce_fuzz::seeds(t).is_empty(), "target {} has no seeds", t.name);
    }
}

/// The committed binary seeds are what the project's writers make (nothing copied from
/// elsewhere); `TASKFORCE_FUZZ_WRITE_SEEDS=1` rewrites them after a writer changes.
#[test]
fn binary_seeds_are_generated() {
    let write = std::env::var_os("TASKFORCE_FUZZ_WRITE_SEEDS").is_some_and(|v| v == "1");
    for (target, name, bytes) in seedgen::binary_seeds() {
        let path = taskforce_fuzz::seeds_dir().join(target).join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(committed == bytes, "{} differs from its generator", path.display());
    }
}

/// The MaxMind writer makes databases the service reads, with the networks it was given.
#[test]
fn mmdb_writer_output_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asn.mmdb");
    std::fs::copy(taskforce_fuzz::seeds_dir().join("mmdb/asn-v4-24.mmdb"), &path).unwrap();
    let mut asns = Vec::new();
    taskforce_service::enrich::read_asn_mmdb(&path, |r| asns.push(r.unwrap().asn)).unwrap();
    asns.sort();
    assert_eq!(asns, [64496, 64497, 64498]);
}

/// Regression (found by the `mmdb` target): a search tree whose nodes point back at each other
/// made the network walk endless; it is now refused with a reason.
#[test]
fn mmdb_with_shared_nodes_is_refused() {
    let path = taskforce_fuzz::seeds_dir().join("mmdb/crash-shared-nodes-endless-walk.mmdb");
    let mut seen = 0u64;
    let err = taskforce_service::enrich::read_asn_mmdb(&path, |_| seen += 1).unwrap_err();
    assert!(err.to_string().contains("not a well-formed MaxMind database"), "{err}");
    assert!(seen < 100_000, "{seen}");
}

/// The targets reach the parsers: the well-formed binary seeds give their records (a target
/// that failed early on every input would pass the fuzz tests while testing nothing).
#[test]
fn well_formed_seeds_give_records() {
    let seeds = taskforce_fuzz::seeds_dir();
    for (file, expected) in [("evtx/msexchange-management.evtx", 3), ("evtx/sysmon-named-data.evtx", 2)] {
        let bytes = std::fs::read(seeds.join(file)).unwrap();
        let mut events = 0;
        let read = taskforce_events::read_evtx(std::io::Cursor::new(bytes), 1, &mut |_| events += 1).unwrap();
        assert_eq!((events, read.damage.len()), (expected, 0), "{file}");
    }
    let zip = taskforce_evidence::Evidence::open(&seeds.join("zip/evidence-deflated.zip")).unwrap();
    assert_eq!(zip.items.len(), 4, "{:?}", zip.items);
    assert!(zip.problems.is_empty(), "{:?}", zip.problems);
    // The /48 inside the /32 splits it: the /32's ASN is on the 16 halves around the /48.
    let mut asns = std::collections::BTreeMap::new();
    taskforce_service::enrich::read_asn_mmdb(&seeds.join("mmdb/asn-v6-28.mmdb"), |r| {
        *asns.entry(r.unwrap().asn).or_insert(0) += 1;
    })
    .unwrap();
    assert_eq!(asns.into_iter().collect::<Vec<_>>(), [(64496, 1), (64499, 16), (4_294_967_295, 1)]);
}
