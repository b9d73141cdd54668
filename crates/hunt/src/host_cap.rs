//! The per-rule findings cap, applied across a host's event logs while they are read.
//!
//! Each file already keeps at most `cap` hits per rule (the rest counted), but a host with
//! hundreds of event logs would still hold hundreds of times `cap` hits of a busy rule until the
//! merge, which then prints only `cap` of them. [`HostCap`] takes each file's hits as soon as the
//! file is read and keeps, per rule and effect, only the ones the report can print: the first
//! `cap` in the report's order (dated before undated, then time, file, record). The others are
//! counted with their first and last time ([`Overflow`]), so the report still says how many
//! there were. The result is the same whatever order the files finish in.
//!
//! Hits that name a written path are kept whatever their number and time (the correlation pass
//! links requests to the first writer it finds, before the window applies); other hits outside
//! `--since`/`--until` are dropped here, as the window would drop them later, before they can
//! take a place under the cap.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use jiff::Timestamp;
use taskforce_report::Effect;
use taskforce_sigma::SigmaSet;

use crate::events::EventHit;
use crate::scan::{Overflow, RuleRef};

/// A kept hit with what orders it: the report's sort key, then the order the hits had when every
/// hit was kept (item, then position in the file), which breaks ties as the stable sort did.
struct Ranked {
    time: Option<Timestamp>,
    path: String,
    record: u64,
    item: usize,
    seq: usize,
    hit: EventHit,
}

impl Ranked {
    fn key(&self) -> (bool, Option<Timestamp>, &str, u64, usize, usize) {
        (self.time.is_none(), self.time, &self.path, self.record, self.item, self.seq)
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// One rule and effect: the best `cap` hits so far (a max-heap, so the worst is evicted first)
/// and the count of the others.
struct Bucket {
    kept: BinaryHeap<Ranked>,
    overflow: Overflow,
}

#[derive(Default)]
struct State {
    buckets: HashMap<(usize, Effect), Bucket>,
    /// Hits naming a written path: never capped here.
    exempt: Vec<Ranked>,
}

/// The host-wide cap for Sigma hits on events; shared by the threads reading event files.
pub(crate) struct HostCap<'s> {
    cap: usize,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    sigma: &'s SigmaSet,
    state: Mutex<State>,
}

/// What the cap kept, in the order the hits would have had without it, and what it counted.
pub(crate) struct Capped {
    /// `(item index, path, hit)`.
    pub kept: Vec<(usize, String, EventHit)>,
    pub overflow: Vec<Overflow>,
}

impl<'s> HostCap<'s> {
    pub(crate) fn new(
        cap: usize,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        sigma: &'s SigmaSet,
    ) -> HostCap<'s> {
        HostCap { cap: cap.max(1), since, until, sigma, state: Mutex::new(State::default()) }
    }

    /// Takes the hits of one file (item `item` of the host, at `path`), in the file's order.
    pub(crate) fn absorb(&self, item: usize, path: &str, hits: Vec<EventHit>) {
        if hits.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (seq, hit) in hits.into_iter().enumerate() {
            let ranked = Ranked { time: hit.time, path: path.to_string(), record: hit.record_id, item, seq, hit };
            if ranked.hit.names_written_path() {
                state.exempt.push(ranked);
                continue;
            }
            if !crate::scope::in_window(ranked.time, self.since, self.until) {
                continue;
            }
            let rule = &self.sigma.rules()[ranked.hit.rule];
            let bucket = state.buckets.entry((ranked.hit.rule, rule.effect)).or_insert_with(|| Bucket {
                kept: BinaryHeap::new(),
                overflow: Overflow::new(RuleRef::Sigma(ranked.hit.rule), rule.effect, rule.severity, rule.stage),
            });
            bucket.kept.push(ranked);
            if bucket.kept.len() > self.cap
                && let Some(evicted) = bucket.kept.pop()
            {
                bucket.overflow.add(evicted.time);
            }
        }
    }

    /// The kept hits in their original order (item, then position in the file), and the counts.
    pub(crate) fn finish(self) -> Capped {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut kept: Vec<Ranked> = state.exempt;
        let mut overflow = Vec::new();
        for (_, bucket) in state.buckets {
            kept.extend(bucket.kept);
            if bucket.overflow.count > 0 {
                overflow.push(bucket.overflow);
            }
        }
        kept.sort_by_key(|r| (r.item, r.seq));
        overflow.sort_by_key(|o| match o.rule {
            RuleRef::Sigma(i) | RuleRef::Line(i) => (i, o.effect),
        });
        Capped { kept: kept.into_iter().map(|r| (r.item, r.path, r.hit)).collect(), overflow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: usize, secs: Option<i64>, record: u64) -> EventHit {
        EventHit {
            rule,
            time: secs.map(|s| Timestamp::from_second(1_600_000_000 + s).unwrap()),
            record_id: record,
            excerpt: String::new(),
            detail: Vec::new(),
        }
    }

    /// A rule of the built-in set, and its effect.
    fn some_rule(sigma: &SigmaSet) -> usize {
        assert!(!sigma.is_empty());
        0
    }

    fn run(order: &[usize], files: &[Vec<EventHit>], cap: usize, sigma: &SigmaSet) -> (Vec<(usize, u64)>, Overflow) {
        let hc = HostCap::new(cap, None, None, sigma);
        for &i in order {
            hc.absorb(i, &format!("f{i}.evtx"), files[i].clone());
        }
        let c = hc.finish();
        assert_eq!(c.overflow.len(), 1);
        (c.kept.iter().map(|(i, _, h)| (*i, h.record_id)).collect(), c.overflow[0])
    }

    #[test]
    fn keeps_the_earliest_whatever_order_the_files_finish_in_and_counts_the_rest() {
        let sigma = SigmaSet::builtin();
        let r = some_rule(&sigma);
        // Three files whose times interleave; one undated hit sorts last.
        let files = vec![
            (0..10).map(|k| hit(r, Some(k * 3), k as u64)).collect::<Vec<_>>(),
            (0..10).map(|k| hit(r, Some(k * 3 + 1), 100 + k as u64)).collect(),
            (0..10).map(|k| hit(r, if k == 0 { None } else { Some(k * 3 + 2) }, 200 + k as u64)).collect(),
        ];
        let (kept, over) = run(&[0, 1, 2], &files, 5, &sigma);
        assert_eq!(run(&[2, 0, 1], &files, 5, &sigma).0, kept, "same result in any order");
        // Times 0,1,3,4,5 (5 is file 2's second hit, record 201); in item order.
        assert_eq!(kept, vec![(0, 0), (0, 1), (1, 100), (1, 101), (2, 201)]);
        assert_eq!(over.count, 25, "30 hits, 5 kept: the 25 others are counted");
        assert_eq!(over.first, Some(Timestamp::from_second(1_600_000_006).unwrap()));
        assert_eq!(over.last, Some(Timestamp::from_second(1_600_000_029).unwrap()));
    }

    #[test]
    fn window_drops_before_the_cap_and_written_paths_are_never_dropped() {
        let sigma = SigmaSet::builtin();
        let r = some_rule(&sigma);
        let mut hits: Vec<EventHit> = (0..10).map(|k| hit(r, Some(k), k as u64)).collect();
        for k in [0, 9] {
            hits[k].detail.push(("written_path".into(), r"C:\inetpub\wwwroot\aspnet_client\x.aspx".into()));
        }
        let since = Timestamp::from_second(1_600_000_004).unwrap();
        let hc = HostCap::new(2, Some(since), None, &sigma);
        hc.absorb(0, "a.evtx", hits);
        let c = hc.finish();
        let records: Vec<u64> = c.kept.iter().map(|(_, _, h)| h.record_id).collect();
        assert_eq!(records, vec![0, 4, 5, 9], "4 and 5 under the cap; 0 (before the window) and 9 name a written path");
        assert_eq!(c.overflow[0].count, 3, "6, 7, 8 counted; 1–3 are outside the window");
    }
}
