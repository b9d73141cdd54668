//! The batch's multi-row writes (hosts, observation extensions, fact heads, provenance lines,
//! state events, findings): each passes its rows as one JSON parameter of a statement whose text
//! never changes, so a batch stays a handful of round trips and no statement is parsed again.
//! `write_batch_in` decides what to write; this module only writes it.

use super::*;

/// The column types of a host write (`id`, then `HOST_COLUMNS` without it, in that order).
pub(super) const HOST_WRITE_TYPES: [Ty; 20] = [
    Ty::Int,
    Ty::Text,
    Ty::Int,
    Ty::Text,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Int,
    Ty::Text,
    Ty::Int,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
];

/// The column types of an observation write, in the order of its INSERT.
pub(super) const OBSERVATION_WRITE_TYPES: [Ty; 20] = [
    Ty::Int,
    Ty::Int,
    Ty::Int,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Int,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Int,
    Ty::Int,
    Ty::Int,
];

/// The values of a host row in `HOST_WRITE_TYPES` order (`id` first).
pub(super) fn host_values(h: &HostRow, id: i64) -> [Val<'_>; 20] {
    let state = h.state.state.unwrap_or(TechState::Exposed);
    [
        Val::Int(Some(id)),
        Val::Text(Some(&h.ip)),
        Val::Int(h.org_id),
        Val::Text(h.org_via.as_deref()),
        Val::Int(h.asn),
        Val::Text(h.asn_source.as_deref()),
        Val::Text(h.cc.as_deref()),
        Val::Text(h.hostname.as_deref()),
        Val::Text(h.servername.as_deref()),
        Val::Text(h.version.as_deref()),
        Val::Text(Some(&h.first_seen)),
        Val::Text(Some(&h.last_seen)),
        Val::Text(Some(state.as_str())),
        Val::Int(Some(state.rank())),
        Val::Text(Some(h.state.state_at.as_deref().unwrap_or(&h.last_seen))),
        Val::Int(Some(h.state.regressed as i64)),
        Val::Int(Some(h.state.compromised_ever as i64)),
        Val::Text(h.state.fixed_at.as_deref()),
        Val::Text(h.state.clean_hunt_at.as_deref()),
        Val::Text(h.state.clean_probe_at.as_deref()),
    ]
}

/// Host columns (by `host_values` position) that an index or a tally trigger reads: org_id,
/// asn, servername, tech_rank, regressed. A row whose change leaves them alone is written by an
/// UPDATE that names none of them, so SQLite rewrites no index entry and fires no trigger.
pub(super) const HOST_KEYED: [usize; 5] = [2, 4, 8, 13, 15];
/// The other written columns (besides `id` and `ip`, which never change).
pub(super) const HOST_PLAIN: [usize; 13] = [3, 5, 6, 7, 9, 10, 11, 12, 14, 16, 17, 18, 19];
pub(super) const HOST_NAMES: [&str; 20] = [
    "id",
    "ip",
    "org_id",
    "org_via",
    "asn",
    "asn_source",
    "cc",
    "hostname",
    "servername",
    "version",
    "first_seen",
    "last_seen",
    "tech_state",
    "tech_rank",
    "state_at",
    "regressed",
    "compromised_ever",
    "fixed_at",
    "clean_hunt_at",
    "clean_probe_at",
];

/// Writes the batch's changed hosts: new ones inserted, stored ones updated with only the
/// columns of their kind of change (see `HOST_KEYED`), unchanged ones not at all.
pub(super) async fn write_hosts(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    changed: &[&HostRow],
    stored: &HashMap<String, HostRow>,
    host_ids: &HashMap<String, i64>,
) -> Result<()> {
    let (mut new, mut keyed, mut plain) =
        (bulk::JsonRows::default(), bulk::JsonRows::default(), bulk::JsonRows::default());
    for h in changed {
        let id = host_ids[&h.ip];
        let now = host_values(h, id);
        let Some(before) = stored.get(&h.ip) else {
            new.push(&now);
            continue;
        };
        let before = host_values(before, id);
        if now == before {
            continue;
        }
        // Rows of `[id, the columns the statement sets…]` (see `update_hosts_sql`).
        if HOST_KEYED.iter().any(|&i| now[i] != before[i]) {
            let mut row = vec![Val::Int(Some(id))];
            row.extend_from_slice(&now[2..]);
            keyed.push(&row);
        } else {
            let mut row = vec![Val::Int(Some(id))];
            row.extend(HOST_PLAIN.iter().map(|&i| now[i]));
            plain.push(&row);
        }
    }
    let all: Vec<usize> = (0..20).collect();
    let sql = format!("INSERT INTO host ({}) {}", HOST_NAMES.join(", "), bulk::json_source_sql(d, &HOST_WRITE_TYPES));
    bulk::execute_json(tx, &sql, new).await?;
    bulk::execute_json(tx, &update_hosts_sql(d, &all[2..]), keyed).await?;
    bulk::execute_json(tx, &update_hosts_sql(d, &HOST_PLAIN), plain).await?;
    Ok(())
}

/// `UPDATE host SET <columns> FROM <rows of [id, columns…]>`.
pub(super) fn update_hosts_sql(d: Dialect, columns: &[usize]) -> String {
    let mut types = vec![Ty::Int];
    types.extend(columns.iter().map(|&i| HOST_WRITE_TYPES[i]));
    let set: Vec<String> =
        columns.iter().enumerate().map(|(n, &i)| format!("{} = v.c{}", HOST_NAMES[i], n + 1)).collect();
    format!("UPDATE host SET {} FROM ({}) AS v WHERE host.id = v.c0", set.join(", "), bulk::json_source_sql(d, &types))
}

/// The columns of a state event write, in the order of its values.
pub(super) const STATE_EVENT_COLUMNS: [(&str, Ty); 11] = [
    ("host_id", Ty::Int),
    ("org_id", Ty::Int),
    ("axis", Ty::Text),
    ("from_state", Ty::Text),
    ("to_state", Ty::Text),
    ("at", Ty::Text),
    ("recorded_at", Ty::Text),
    ("observation_id", Ty::Int),
    ("source", Ty::Text),
    ("regressed", Ty::Int),
    ("reason", Ty::Text),
];

/// The columns of a finding write, in the order of its values.
pub(super) const FINDING_COLUMNS: [(&str, Ty); 6] = [
    ("host_id", Ty::Int),
    ("kind", Ty::Text),
    ("first_seen", Ty::Text),
    ("last_seen", Ty::Text),
    ("count", Ty::Int),
    ("last_observation_id", Ty::Int),
];

/// Later sightings of stored observations: newest time, count, the ingest and line of the last.
pub(super) async fn extend_observations(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    ingest_id: Option<i64>,
    extended: &HashMap<i64, Extension>,
) -> Result<()> {
    let mut rows = bulk::JsonRows::default();
    for (id, e) in extended {
        rows.push(&[
            Val::Int(Some(*id)),
            Val::Text(Some(&e.last_at)),
            Val::Int(Some(e.rows)),
            Val::Int(ingest_id),
            Val::Int(Some(e.line as i64)),
        ]);
    }
    let sql = format!(
        "UPDATE observation SET last_observed_at = v.c1, seen_count = seen_count + v.c2, \
         last_ingest_id = v.c3, last_line = v.c4 FROM ({}) AS v WHERE observation.id = v.c0",
        bulk::json_source_sql(d, &[Ty::Int, Ty::Text, Ty::Int, Ty::Int, Ty::Int])
    );
    bulk::execute_json(tx, &sql, rows).await
}

/// Moves the heads of these streams (`host id, stream, fact, observation id`).
pub(super) async fn write_heads(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    rows: &[(i64, &str, &str, i64)],
) -> Result<()> {
    let mut json = bulk::JsonRows::default();
    for (host_id, stream, fact, obs) in rows {
        json.push(&[Val::Int(Some(*host_id)), Val::Text(Some(stream)), Val::Text(Some(fact)), Val::Int(Some(*obs))]);
    }
    let columns = [("host_id", Ty::Int), ("stream", Ty::Text), ("fact", Ty::Text), ("observation_id", Ty::Int)];
    let sql = bulk::insert_json_sql(
        d,
        "fact_head",
        &columns,
        "ON CONFLICT (host_id, stream) DO UPDATE SET fact = excluded.fact, observation_id = excluded.observation_id",
    );
    bulk::execute_json(tx, &sql, json).await
}

/// Row-level provenance of one batch: runs of consecutive lines, each line's observation id
/// (empty for a line that made none: rejected, ignored).
pub(super) async fn write_lines(
    tx: &mut Transaction<'_, Any>,
    d: Dialect,
    ingest_id: i64,
    lines: &[(u64, i64)],
) -> Result<()> {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    let mut rows = bulk::JsonRows::default();
    for run in crate::provenance::encode_runs(&sorted) {
        rows.push(&[
            Val::Int(Some(ingest_id)),
            Val::Int(Some(run.first_line as i64)),
            Val::Int(Some(run.last_line as i64)),
            Val::Text(Some(&run.ids)),
        ]);
    }
    let columns =
        [("ingest_id", Ty::Int), ("first_line", Ty::Int), ("last_line", Ty::Int), ("observation_ids", Ty::Text)];
    bulk::execute_json(tx, &bulk::insert_json_sql(d, "ingest_lines", &columns, ""), rows).await
}
