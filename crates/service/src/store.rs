//! Writes one batch of observations: hosts (enriched, state machine applied), immutable
//! observations, aggregated findings, state events and the organisation roll-ups, inside the
//! caller's transaction (one per upload). Multi-row statements keep a batch to a handful of
//! round trips.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use anyhow::Result;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use crate::bulk::{self, Ty, Val};
use crate::db::{Db, Dialect, placeholders};
use crate::enrich::Enricher;
use crate::feeds::{Observed, RowError, Target};
use crate::state::{HostState, Signal, TechState, Transition};

pub mod planner;
mod write;
use write::*;

/// Who sent the data: `cli`, or an API token (a reporter's token is bound to one organisation).
#[derive(Debug, Clone)]
pub struct Uploader {
    pub name: String,
    pub reporter_org: Option<i64>,
}

/// What one batch did.
#[derive(Debug, Default, Clone)]
pub struct BatchStats {
    pub ok: u64,
    pub duplicate: u64,
    pub ignored: u64,
    pub rejected: Vec<RowError>,
    /// Rows a reporter may not submit (another organisation's host).
    pub forbidden: Vec<RowError>,
    pub state_changes: u64,
}

/// A host as the batch sees it.
#[derive(Debug, Clone)]
struct HostRow {
    /// `None` until the host is stored.
    id: Option<i64>,
    ip: String,
    org_id: Option<i64>,
    org_via: Option<String>,
    asn: Option<i64>,
    asn_source: Option<String>,
    cc: Option<String>,
    hostname: Option<String>,
    servername: Option<String>,
    version: Option<String>,
    first_seen: String,
    last_seen: String,
    state: HostState,
    changed: bool,
}

const HOST_COLUMNS: &str = "id, ip, org_id, org_via, asn, asn_source, cc, hostname, servername, version, first_seen, last_seen, tech_state, state_at, regressed, compromised_ever, fixed_at, clean_hunt_at, clean_probe_at";

/// A stored host as [`bulk::fetch_json_rows`] decodes it (the order of `HOST_COLUMNS`).
#[derive(serde::Deserialize)]
struct StoredHost(
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl From<StoredHost> for HostRow {
    fn from(h: StoredHost) -> HostRow {
        HostRow {
            id: Some(h.0),
            ip: h.1,
            org_id: h.2,
            org_via: h.3,
            asn: h.4,
            asn_source: h.5,
            cc: h.6,
            hostname: h.7,
            servername: h.8,
            version: h.9,
            first_seen: h.10,
            last_seen: h.11,
            state: HostState {
                state: TechState::parse(&h.12),
                state_at: Some(h.13),
                regressed: h.14 != 0,
                compromised_ever: h.15 != 0,
                fixed_at: h.16,
                clean_hunt_at: h.17,
                clean_probe_at: h.18,
            },
            changed: false,
        }
    }
}

/// Loads hosts by address (chunked IN lists, each chunk one aggregated row).
async fn load_hosts(tx: &mut Transaction<'_, Any>, d: Dialect, ips: &[String]) -> Result<HashMap<String, HostRow>> {
    let mut out = HashMap::with_capacity(ips.len());
    for chunk in ips.chunks(500) {
        let sql =
            bulk::json_rows_sql(d, HOST_COLUMNS, &format!("FROM host WHERE ip IN {}", placeholders(d, 1, chunk.len())));
        let rows: Vec<StoredHost> = bulk::fetch_json_rows(tx, sql, |mut q| {
            for ip in chunk {
                q = q.bind(ip.clone());
            }
            q
        })
        .await?;
        for h in rows {
            let h = HostRow::from(h);
            out.insert(h.ip.clone(), h);
        }
    }
    Ok(out)
}

/// Natural keys already stored.
async fn existing_keys(tx: &mut Transaction<'_, Any>, d: Dialect, keys: &[&str]) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in keys.chunks(500) {
        let sql = bulk::json_rows_sql(
            d,
            "natural_key",
            &format!("FROM observation WHERE natural_key IN {}", placeholders(d, 1, chunk.len())),
        );
        let rows: Vec<(String,)> = bulk::fetch_json_rows(tx, sql, |mut q| {
            for k in chunk {
                q = q.bind(k.to_string());
            }
            q
        })
        .await?;
        out.extend(rows.into_iter().map(|(k,)| k));
    }
    Ok(out)
}

/// Resolves a hunt report's server name to a host address (unique match required).
async fn resolve_servername(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    org: Option<i64>,
) -> Result<Result<String, String>> {
    let rows = match org {
        Some(org) => {
            sqlx::query("SELECT ip FROM host WHERE UPPER(servername) = UPPER($1) AND org_id = $2 LIMIT 3")
                .bind(name.to_string())
                .bind(org)
                .fetch_all(&mut **tx)
                .await?
        }
        None => {
            sqlx::query("SELECT ip FROM host WHERE UPPER(servername) = UPPER($1) LIMIT 3")
                .bind(name.to_string())
                .fetch_all(&mut **tx)
                .await?
        }
    };
    Ok(match rows.len() {
        1 => Ok(rows[0].try_get(0)?),
        0 => Err(format!("no known host has the server name {name:?}: give the host's address (ip)")),
        _ => Err(format!("several hosts have the server name {name:?}: give the host's address (ip)")),
    })
}

/// One pending state event.
struct Event {
    ip: String,
    obs: ObsRef,
    /// The input line that caused it (0: none).
    line: u64,
    t: Transition,
}

/// The observation a row went to: one of this batch's new rows (index into `kept`), or a stored
/// one that the row extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObsRef {
    New(usize),
    Stored(i64),
}

/// The current fact of a host's stream, as the batch sees it.
#[derive(Debug, Clone)]
struct Head {
    fact: String,
    obs: ObsRef,
    first_at: String,
    last_at: String,
}

/// A later sighting of an observation: its newest time, how many rows, the line of the last.
#[derive(Debug, Clone)]
struct Extension {
    last_at: String,
    rows: i64,
    line: u64,
}

/// The current fact of each stream of these hosts (`host id` → `(stream, head)`).
async fn load_heads(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    host_ids: &[i64],
) -> Result<HashMap<i64, Vec<(String, Head)>>> {
    let mut out: HashMap<i64, Vec<(String, Head)>> = HashMap::new();
    for chunk in host_ids.chunks(500) {
        let sql = bulk::json_rows_sql(
            d,
            "f.host_id, f.stream, f.fact, f.observation_id, o.observed_at, COALESCE(o.last_observed_at, o.observed_at)",
            &format!(
                "FROM fact_head f JOIN observation o ON o.id = f.observation_id WHERE f.host_id IN {}",
                placeholders(d, 1, chunk.len())
            ),
        );
        let rows: Vec<(i64, String, String, i64, String, String)> = bulk::fetch_json_rows(tx, sql, |mut q| {
            for id in chunk {
                q = q.bind(*id);
            }
            q
        })
        .await?;
        for (host_id, stream, fact, obs, first_at, last_at) in rows {
            let head = Head { fact, obs: ObsRef::Stored(obs), first_at, last_at };
            out.entry(host_id).or_default().push((stream, head));
        }
    }
    Ok(out)
}

/// `YYYY-MM-DD` of a stored time.
fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// Writes a batch in a transaction of its own (locked for writing), returned uncommitted so the
/// caller can add to it (roll-ups, the audit row) before committing.
pub async fn write_batch(
    db: &Db,
    enricher: &Enricher,
    ingest_id: Option<i64>,
    source_label: &str,
    uploader: &Uploader,
    rows: Vec<Observed>,
    rejected: Vec<RowError>,
) -> Result<(BatchStats, Transaction<'static, Any>, BTreeSet<i64>)> {
    let mut tx = db.pool.begin().await?;
    db.lock_for_write(&mut tx).await?;
    let (stats, orgs) =
        write_batch_in(&mut tx, db.dialect, enricher, ingest_id, source_label, uploader, rows, rejected).await?;
    Ok((stats, tx, orgs))
}

/// Writes a batch inside the caller's transaction (already locked for writing with
/// `Db::lock_for_write`): a whole upload is one transaction, so a refusal or a failure in any
/// batch leaves nothing behind. `rejected` rows from the parser are passed through into the
/// stats; returns the organisations whose roll-up may have moved.
#[allow(clippy::too_many_arguments)]
pub async fn write_batch_in(
    tx: &mut Transaction<'static, Any>,
    d: Dialect,
    enricher: &Enricher,
    ingest_id: Option<i64>,
    source_label: &str,
    uploader: &Uploader,
    rows: Vec<Observed>,
    rejected: Vec<RowError>,
) -> Result<(BatchStats, BTreeSet<i64>)> {
    let mut stats = BatchStats { rejected, ..Default::default() };
    let now = crate::time::now();

    // Which address each row is about.
    let mut resolved: Vec<(Observed, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        let ip = match &row.target {
            Target::Ip(ip) => canonical(*ip),
            Target::Servername(name) => match resolve_servername(tx, name, uploader.reporter_org).await? {
                Ok(ip) => ip,
                Err(message) => {
                    stats.rejected.push(RowError { line: row.line, message });
                    continue;
                }
            },
        };
        resolved.push((row, ip));
    }

    // Drop facts already known (from this file or another), then load the hosts involved.
    let keys: Vec<&str> = resolved.iter().map(|(o, _)| o.natural_key.as_str()).collect();
    let known = existing_keys(tx, d, &keys).await?;
    let mut seen_keys = HashSet::new();
    let mut fresh = Vec::with_capacity(resolved.len());
    for (o, ip) in resolved {
        if known.contains(&o.natural_key) || !seen_keys.insert(o.natural_key.clone()) {
            stats.duplicate += 1;
        } else {
            fresh.push((o, ip));
        }
    }
    let ips: Vec<String> = fresh.iter().map(|(_, ip)| ip.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut hosts = load_hosts(tx, d, &ips).await?;
    let before_orgs: HashMap<String, Option<i64>> = hosts.iter().map(|(ip, h)| (ip.clone(), h.org_id)).collect();
    // The hosts as stored, to write only what the batch changed.
    let stored = hosts.clone();
    let stored_ids: Vec<i64> = hosts.values().filter_map(|h| h.id).collect();
    let mut heads: HashMap<(String, String), Head> = HashMap::new();
    if fresh.iter().any(|(o, _)| o.stream().is_some()) {
        let by_id: HashMap<i64, &str> = hosts.values().filter_map(|h| Some((h.id?, h.ip.as_str()))).collect();
        for (host_id, list) in load_heads(tx, d, &stored_ids).await? {
            for (stream, head) in list {
                heads.insert((by_id[&host_id].to_string(), stream), head);
            }
        }
    }

    // Apply each row in order.
    let mut kept: Vec<(Observed, String)> = Vec::with_capacity(fresh.len());
    // Later sightings of this batch's new observations (by index) and of stored ones (by id).
    let mut kept_ext: HashMap<usize, Extension> = HashMap::new();
    let mut stored_ext: HashMap<i64, Extension> = HashMap::new();
    // Streams whose head moved to one of this batch's new observations.
    let mut new_heads: BTreeSet<(String, String)> = BTreeSet::new();
    // Which observation each taken line of a stream went to (row-level provenance).
    let mut lines: Vec<(u64, ObsRef)> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut findings: HashMap<(String, String), (String, String, i64, ObsRef)> = HashMap::new();
    for (mut o, ip) in fresh {
        // Evidence cannot be newer than its arrival: a time in the future (a skewed clock, or a
        // report claiming evidence from 2099 to stay "verified" against every later sighting)
        // counts as the time it was received. The row's own text keeps what it said.
        if o.observed_at > now {
            o.observed_at = now.clone();
        }
        // The stream's current fact: the same fact again the same day is already known; on a
        // later day it extends that observation (no new row) unless the host's state moved since.
        let stream = o.stream();
        let fact = stream.as_ref().map(|_| o.fact());
        let head_key = stream.map(|s| (ip.clone(), s));
        let mut extends = None;
        if let (Some(key), Some(fact)) = (&head_key, &fact)
            && let Some(head) = heads.get(key)
            && head.fact == *fact
            && o.observed_at >= head.first_at
        {
            if day(&o.observed_at) <= day(&head.last_at) {
                stats.duplicate += 1;
                lines.push((o.line, head.obs));
                continue;
            }
            // Something happened to the host since (a remediation, a verification): a new
            // chapter of its history, so the fact starts a new observation.
            let state_at = hosts.get(&ip).and_then(|h| h.state.state_at.as_deref());
            if state_at.is_none_or(|at| at <= head.last_at.as_str()) {
                extends = Some(head.obs);
            }
        }
        let only_none = o.signals.iter().all(|s| *s == Signal::None);
        if !hosts.contains_key(&ip) {
            if only_none {
                stats.ignored += 1;
                continue;
            }
            hosts.insert(ip.clone(), new_host(&ip, &o.observed_at));
        }
        let host = hosts.get_mut(&ip).expect("inserted above");
        let addr: IpAddr = ip.parse().expect("canonical");
        let e = enricher.lookup(
            addr,
            o.asn_reported.or(host.asn.filter(|_| host.asn_source.as_deref() == Some("feed"))),
            o.cc_reported.as_deref().or(host.cc.as_deref()),
        );
        if let Some(reporter_org) = uploader.reporter_org
            && e.org_id != Some(reporter_org)
        {
            stats
                .forbidden
                .push(RowError { line: o.line, message: format!("host {ip} is not one of your organisation's hosts") });
            continue;
        }
        host.org_id = e.org_id;
        host.org_via = e.org_via;
        host.asn = e.asn;
        host.asn_source = e.asn_source;
        host.cc = e.cc;
        if o.observed_at >= host.last_seen {
            host.last_seen = o.observed_at.clone();
            if o.hostname.is_some() {
                host.hostname = o.hostname.clone();
            }
            if o.servername.is_some() {
                host.servername = o.servername.clone();
            }
            if o.version.is_some() {
                host.version = o.version.clone();
            }
        }
        if o.observed_at < host.first_seen {
            host.first_seen = o.observed_at.clone();
        }
        host.changed = true;
        let obs = match extends {
            Some(obs) => {
                let blank = || Extension { last_at: String::new(), rows: 0, line: 0 };
                let ext = match obs {
                    ObsRef::New(i) => kept_ext.entry(i).or_insert_with(blank),
                    ObsRef::Stored(id) => stored_ext.entry(id).or_insert_with(blank),
                };
                ext.last_at = o.observed_at.clone();
                ext.rows += 1;
                ext.line = o.line;
                let head = heads.get_mut(head_key.as_ref().expect("a stream")).expect("extends a head");
                head.last_at = o.observed_at.clone();
                obs
            }
            None => {
                let obs = ObsRef::New(kept.len());
                if let (Some(key), Some(fact)) = (head_key, fact) {
                    // An older row (a late file) is kept as its own observation; the head stays.
                    if heads.get(&key).is_none_or(|h| o.observed_at >= h.last_at) {
                        heads.insert(
                            key.clone(),
                            Head { fact, obs, first_at: o.observed_at.clone(), last_at: o.observed_at.clone() },
                        );
                        new_heads.insert(key);
                    }
                }
                obs
            }
        };
        if o.stream().is_some() {
            lines.push((o.line, obs));
        }
        for signal in &o.signals {
            for t in host.state.apply(*signal, &o.observed_at) {
                events.push(Event { ip: ip.clone(), obs, line: o.line, t });
            }
        }
        for kind in &o.findings {
            let entry = findings
                .entry((ip.clone(), kind.clone()))
                .or_insert_with(|| (o.observed_at.clone(), o.observed_at.clone(), 0, obs));
            if o.observed_at < entry.0 {
                entry.0 = o.observed_at.clone();
            }
            if o.observed_at >= entry.1 {
                entry.1 = o.observed_at.clone();
                entry.3 = obs;
            }
            entry.2 += 1;
        }
        if extends.is_none() {
            kept.push((o, ip));
        }
        stats.ok += 1;
    }

    // Hosts: one upsert for new and changed ones, new hosts with ids reserved up front (no
    // `RETURNING` rows to stream back; see `bulk`).
    let changed: Vec<&HostRow> = hosts.values().filter(|h| h.changed).collect();
    let new_count = changed.iter().filter(|h| h.id.is_none()).count();
    let mut fresh_ids = bulk::reserve_ids(tx, d, "host", new_count).await?.into_iter();
    let mut host_ids: HashMap<String, i64> = HashMap::with_capacity(hosts.len());
    for h in hosts.values() {
        let id = match h.id {
            Some(id) => id,
            None if h.changed => fresh_ids.next().expect("one reserved id per new host"),
            None => continue,
        };
        host_ids.insert(h.ip.clone(), id);
    }
    write_hosts(tx, d, &changed, &stored, &host_ids).await?;

    // Observations (immutable), then the events and findings that point at them; ids reserved
    // up front, in `kept` order.
    let obs_ids = bulk::reserve_ids(tx, d, "observation", kept.len()).await?;
    let mut rows = bulk::JsonRows::default();
    for (i, (o, ip)) in kept.iter().enumerate() {
        let kind = o.natural_key.split('|').next().unwrap_or("feed");
        let signals: Vec<&str> = o.signals.iter().map(|s| s.as_str()).collect();
        let signals = signals.join(",");
        let ext = kept_ext.get(&i);
        rows.push(&[
            Val::Int(Some(obs_ids[i])),
            Val::Int(ingest_id),
            Val::Int(Some(o.line as i64)),
            Val::Int(Some(host_ids[ip])),
            Val::Text(Some(kind)),
            Val::Text(Some(&o.natural_key)),
            Val::Text(Some(&o.observed_at)),
            Val::Text(Some(&now)),
            Val::Text(Some(&signals)),
            Val::Int(o.port),
            Val::Text(o.tags.as_deref()),
            Val::Text(o.version.as_deref()),
            Val::Text(o.url.as_deref()),
            Val::Int(o.asn_reported),
            Val::Text(o.cc_reported.as_deref()),
            Val::Text(Some(&o.detail)),
            Val::Text(ext.map(|e| e.last_at.as_str())),
            Val::Int(Some(1 + ext.map_or(0, |e| e.rows))),
            Val::Int(ext.and(ingest_id)),
            Val::Int(ext.map(|e| e.line as i64)),
        ]);
    }
    let sql = format!(
        "INSERT INTO observation (id, ingest_id, line, host_id, kind, natural_key, observed_at, recorded_at, signals, port, tags, version, url, asn_reported, cc_reported, detail, last_observed_at, seen_count, last_ingest_id, last_line) {}",
        bulk::json_source_sql(d, &OBSERVATION_WRITE_TYPES)
    );
    bulk::execute_json(tx, &sql, rows).await?;
    let id_of = |obs: ObsRef| match obs {
        ObsRef::New(i) => obs_ids[i],
        ObsRef::Stored(id) => id,
    };

    extend_observations(tx, d, ingest_id, &stored_ext).await?;
    let head_rows: Vec<(i64, &str, &str, i64)> = new_heads
        .iter()
        .map(|key| {
            let head = &heads[key];
            (host_ids[&key.0], key.1.as_str(), head.fact.as_str(), id_of(head.obs))
        })
        .collect();
    write_heads(tx, d, &head_rows).await?;
    if let Some(ingest_id) = ingest_id {
        let resolved: Vec<(u64, i64)> = lines.iter().map(|(line, obs)| (*line, id_of(*obs))).collect();
        write_lines(tx, d, ingest_id, &resolved).await?;
    }

    let mut event_rows = bulk::JsonRows::default();
    for e in &events {
        let source = if e.line > 0 { format!("{source_label}#{}", e.line) } else { source_label.to_string() };
        event_rows.push(&[
            Val::Int(Some(host_ids[&e.ip])),
            Val::Int(hosts[&e.ip].org_id),
            Val::Text(Some("technical")),
            Val::Text(e.t.from.map(|s| s.as_str())),
            Val::Text(Some(e.t.to.as_str())),
            Val::Text(Some(&e.t.at)),
            Val::Text(Some(&now)),
            Val::Int(Some(id_of(e.obs))),
            Val::Text(Some(&source)),
            Val::Int(Some(e.t.regressed as i64)),
            Val::Text(Some(&e.t.reason)),
        ]);
    }
    bulk::execute_json(tx, &bulk::insert_json_sql(d, "state_event", &STATE_EVENT_COLUMNS, ""), event_rows).await?;
    stats.state_changes = events.len() as u64;

    let mut finding_rows = bulk::JsonRows::default();
    for ((ip, kind), (first, last, count, obs)) in &findings {
        finding_rows.push(&[
            Val::Int(Some(host_ids[ip])),
            Val::Text(Some(kind)),
            Val::Text(Some(first)),
            Val::Text(Some(last)),
            Val::Int(Some(*count)),
            Val::Int(Some(id_of(*obs))),
        ]);
    }
    let sql = bulk::insert_json_sql(
        d,
        "finding",
        &FINDING_COLUMNS,
        "ON CONFLICT (host_id, kind) DO UPDATE SET \
         first_seen = CASE WHEN excluded.first_seen < finding.first_seen THEN excluded.first_seen ELSE finding.first_seen END, \
         last_observation_id = CASE WHEN excluded.last_seen >= finding.last_seen THEN excluded.last_observation_id ELSE finding.last_observation_id END, \
         last_seen = CASE WHEN excluded.last_seen > finding.last_seen THEN excluded.last_seen ELSE finding.last_seen END, \
         count = finding.count + excluded.count",
    );
    bulk::execute_json(tx, &sql, finding_rows).await?;

    // Organisations whose roll-up may have moved: the new owners and the previous ones.
    let mut orgs = BTreeSet::new();
    for h in hosts.values().filter(|h| h.changed) {
        orgs.extend(h.org_id);
        if let Some(Some(previous)) = before_orgs.get(&h.ip) {
            orgs.insert(*previous);
        }
    }
    if let Some(ingest_id) = ingest_id {
        write_errors(tx, d, ingest_id, &stats.rejected).await?;
    }
    Ok((stats, orgs))
}

fn new_host(ip: &str, at: &str) -> HostRow {
    HostRow {
        id: None,
        ip: ip.to_string(),
        org_id: None,
        org_via: None,
        asn: None,
        asn_source: None,
        cc: None,
        hostname: None,
        servername: None,
        version: None,
        first_seen: at.to_string(),
        last_seen: at.to_string(),
        state: HostState::default(),
        changed: true,
    }
}

/// The canonical text of an address (IPv4-mapped IPv6 folded to IPv4).
pub fn canonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Stores rejected rows (the first 10,000 of an ingest; the counts keep the rest).
pub async fn write_errors(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    ingest_id: i64,
    errors: &[RowError],
) -> Result<()> {
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM ingest_error WHERE ingest_id = $1")
        .bind(ingest_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    let room = (10_000 - stored).max(0) as usize;
    let mut rows = bulk::JsonRows::default();
    for e in &errors[..errors.len().min(room)] {
        rows.push(&[Val::Int(Some(ingest_id)), Val::Int(Some(e.line as i64)), Val::Text(Some(&e.message))]);
    }
    let columns = [("ingest_id", Ty::Int), ("line", Ty::Int), ("message", Ty::Text)];
    bulk::execute_json(tx, &bulk::insert_json_sql(d, "ingest_error", &columns, ""), rows).await?;
    Ok(())
}

/// Recomputes the roll-up of these organisations from their hosts (worst host wins).
///
/// One grouped pass over their hosts per chunk (the `host_org` index), written by one UPDATE
/// that touches only the organisations whose roll-up moved: six correlated sub-queries per
/// organisation, then a second UPDATE for the state's name, were 18 % of a PostgreSQL ingest's
/// server time (130 ms per 500 organisations), and rewrote every organisation, changed or not.
pub async fn roll_up(tx: &mut Transaction<'_, Any>, d: Dialect, orgs: &BTreeSet<i64>) -> Result<()> {
    let ids: Vec<i64> = orgs.iter().copied().collect();
    let mut case = String::from("CASE a.tech_rank");
    for s in TechState::ALL {
        case.push_str(&format!(" WHEN {} THEN '{}'", s.rank(), s.as_str()));
    }
    case.push_str(" ELSE NULL END");
    let moved = ["tech_rank", "hosts", "hosts_compromised", "hosts_vulnerable", "regressed", "last_seen"]
        .map(|c| format!("organisation.{c} IS DISTINCT FROM a.{c}"))
        .join(" OR ");
    for chunk in ids.chunks(500) {
        let list = placeholders(d, 1, chunk.len());
        let sql = format!(
            "UPDATE organisation SET tech_rank = a.tech_rank, tech_state = {case}, hosts = a.hosts, \
             hosts_compromised = a.hosts_compromised, hosts_vulnerable = a.hosts_vulnerable, \
             regressed = a.regressed, last_seen = a.last_seen \
             FROM (SELECT o.id AS id, COALESCE(MAX(h.tech_rank), -1) AS tech_rank, COUNT(h.id) AS hosts, \
                   COALESCE(SUM(CASE WHEN h.tech_state = 'compromised' THEN 1 ELSE 0 END), 0) AS hosts_compromised, \
                   COALESCE(SUM(CASE WHEN h.tech_state = 'vulnerable' THEN 1 ELSE 0 END), 0) AS hosts_vulnerable, \
                   COALESCE(SUM(CASE WHEN h.regressed = 1 THEN 1 ELSE 0 END), 0) AS regressed, \
                   MAX(h.last_seen) AS last_seen \
                   FROM organisation o LEFT JOIN host h ON h.org_id = o.id WHERE o.id IN {list} GROUP BY o.id) AS a \
             WHERE organisation.id = a.id AND ({moved} OR organisation.tech_state IS DISTINCT FROM {case})"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
