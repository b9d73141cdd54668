//! Daily reports (issue 14, item 2): an unchanged fact seen again extends its observation
//! (last time, count, last file and line) instead of adding a row; a changed fact starts a new
//! one; every file and line stays retrievable while row-level detail is kept, and the files'
//! hashes and counts and each observation's first and last sighting are kept forever.

mod common;

use common::*;
use sqlx::Row;
use taskforce_service::feeds::FeedKind;
use taskforce_service::ingest::{IngestKind, ingest_file};
use taskforce_service::provenance;
use taskforce_service::store::Uploader;

const VULN: &str = "192.0.2.10";
const SHELL: &str = "192.0.2.20";
const PLAIN: &str = "192.0.2.30";

/// A day's report: the three hosts, with the vulnerable one's tag given.
fn day(date: &str, vuln_tag: &str) -> String {
    day_named(date, vuln_tag, "EXCH")
}

/// The same with other server names (a different file, the same facts).
fn day_named(date: &str, vuln_tag: &str, server: &str) -> String {
    format!(
        "{SS_HEADER}{}{}{}",
        ss_row(&format!("{date} 01:00:00"), VULN, vuln_tag, &format!("{server}01"), ""),
        ss_row(&format!("{date} 02:00:00"), SHELL, "exchange;webshell", &format!("{server}02"), "/a.aspx"),
        ss_row(&format!("{date} 03:00:00"), PLAIN, "exchange", &format!("{server}03"), "")
    )
}

/// `(id, observed_at, last_observed_at, seen_count)` of a host's observations, oldest first.
async fn observations(s: &Svc, ip: &str) -> Vec<(i64, String, Option<String>, i64)> {
    sqlx::query(
        "SELECT o.id, o.observed_at, o.last_observed_at, o.seen_count FROM observation o JOIN host h ON h.id = o.host_id \
         WHERE h.ip = $1 ORDER BY o.id",
    )
    .bind(ip.to_string())
    .fetch_all(&s.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

async fn daily_reports_extend_facts(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let d1 = s.upload("shadowserver", "day1.csv", day("2021-04-01", "exchange;cve-2021-26855")).await;
    assert_eq!(s.count("observation").await, 3);
    let events_after_d1 = s.count("state_event").await;

    // Day 2: the same facts. No new observation, no state event; last seen and counts move.
    let d2 = s.upload("shadowserver", "day2.csv", day("2021-04-02", "exchange;cve-2021-26855")).await;
    assert_eq!((d2["rows_ok"].as_i64(), d2["rows_duplicate"].as_i64()), (Some(3), Some(0)), "{d2}");
    assert_eq!(s.count("observation").await, 3, "unchanged facts add no row");
    assert_eq!(s.count("state_event").await, events_after_d1);
    let vuln = observations(&s, VULN).await;
    assert_eq!(vuln.len(), 1);
    assert_eq!((vuln[0].2.as_deref(), vuln[0].3), (Some("2021-04-02T01:00:00Z"), 2), "{vuln:?}");
    let host = s.get(&format!("/api/v1/hosts/{}", s.host_id(VULN).await)).await;
    assert_eq!(host["last_seen"], "2021-04-02T01:00:00Z");
    assert_eq!(host["findings"][0]["count"], 2, "{}", host["findings"]);

    // The same day again in another file: already known, nothing moves.
    let again =
        s.upload("shadowserver", "day2-resent.csv", day_named("2021-04-02", "exchange;cve-2021-26855", "MAIL")).await;
    assert_eq!((again["rows_ok"].as_i64(), again["rows_duplicate"].as_i64()), (Some(0), Some(3)), "{again}");
    assert_eq!(observations(&s, VULN).await[0].3, 2);

    // Day 3: the vulnerable host is no longer tagged vulnerable: a new fact, a new observation.
    s.upload("shadowserver", "day3.csv", day("2021-04-03", "exchange")).await;
    assert_eq!(s.count("observation").await, 4);
    // Day 4: patched again (extends day 3's), day 5: vulnerable again (a new observation even
    // though that fact was seen before: the history reads vulnerable, patched, vulnerable).
    s.upload("shadowserver", "day4.csv", day("2021-04-04", "exchange")).await;
    s.upload("shadowserver", "day5.csv", day("2021-04-05", "exchange;cve-2021-26855")).await;
    let vuln = observations(&s, VULN).await;
    assert_eq!(vuln.iter().map(|o| o.3).collect::<Vec<_>>(), vec![2, 2, 1], "{vuln:?}");
    assert_eq!(s.count("observation").await, 5);
    // The web shell (line 3: the header is line 1) was seen every day: one observation, five sightings.
    let shell = observations(&s, SHELL).await;
    assert_eq!((shell.len(), shell[0].3, shell[0].2.as_deref()), (1, 5, Some("2021-04-05T02:00:00Z")));

    // Provenance: every file and line the web shell's observation came from.
    let seen = provenance::sightings(&s.db, shell[0].0).await.unwrap();
    let files: Vec<(&str, &[u64])> = seen.iter().map(|x| (x.file_name.as_str(), x.lines.as_slice())).collect();
    assert_eq!(
        files,
        vec![
            ("day1.csv", &[3][..]),
            ("day2.csv", &[3][..]),
            ("day2-resent.csv", &[3][..]),
            ("day3.csv", &[3][..]),
            ("day4.csv", &[3][..]),
            ("day5.csv", &[3][..]),
        ]
    );
    assert_eq!(seen[0].ingest_id, d1["ingest_id"].as_i64().unwrap());
    assert_eq!(seen[0].sha256, d1["sha256"].as_str().unwrap());
    // The API shows the observation once, with its first sighting's file and line.
    let host = s.get(&format!("/api/v1/hosts/{}", s.host_id(SHELL).await)).await;
    let obs = host["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!((obs[0]["file_name"].as_str(), obs[0]["line"].as_i64()), (Some("day1.csv"), Some(3)));
}
on_both!(daily_reports_extend_facts);

/// Row-level detail older than `line_detail_days` is dropped at the next feed ingest; the ingest
/// rows (hash, counts) and the observations' first and last sightings stay.
async fn line_detail_retention(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let mut db = s.db.clone();
    db.line_detail_days = 10;
    let uploader = Uploader { name: "cli".into(), reporter_org: None };
    let feed = IngestKind::Feed(FeedKind::Shadowserver);
    let mut ids = Vec::new();
    for (i, date) in ["2021-04-01", "2021-04-02", "2021-04-03"].iter().enumerate() {
        let path = s.dir.path().join(format!("d{i}.csv"));
        std::fs::write(&path, day(date, "exchange;cve-2021-26855")).unwrap();
        let summary = ingest_file(&db, feed, &path, &format!("d{i}.csv"), &uploader, None).await.unwrap();
        ids.push(summary.ingest_id);
        if i == 1 {
            // The first two files arrived 11 days ago: past the retention, pruned by the next ingest.
            let old = taskforce_service::time::format(
                jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_hours(24 * 11)).unwrap(),
            );
            sqlx::query("UPDATE ingest SET received_at = $1 WHERE id IN ($2, $3)")
                .bind(old)
                .bind(ids[0])
                .bind(ids[1])
                .execute(&s.db.pool)
                .await
                .unwrap();
            assert_eq!(lines_of(&s, ids[0]).await, 1, "kept until the next ingest");
        }
    }
    assert_eq!((lines_of(&s, ids[0]).await, lines_of(&s, ids[1]).await), (0, 0), "older detail is pruned");
    assert_eq!(lines_of(&s, ids[2]).await, 1, "recent detail stays");
    assert_eq!(s.count("ingest").await, 3, "the files' hashes and counts are kept forever");
    let sha: String =
        sqlx::query("SELECT sha256 FROM ingest WHERE id = $1").bind(ids[0]).fetch_one(&s.db.pool).await.unwrap().get(0);
    assert_eq!(sha.len(), 64);
    // The first (d0, pruned) and last (d2) sightings are still known; the middle one is not.
    let obs = observations(&s, VULN).await;
    assert_eq!(obs.len(), 1);
    let seen = provenance::sightings(&s.db, obs[0].0).await.unwrap();
    let files: Vec<(i64, Vec<u64>)> = seen.iter().map(|x| (x.ingest_id, x.lines.clone())).collect();
    assert_eq!(files, vec![(ids[0], vec![2]), (ids[2], vec![2])]);
}
on_both!(line_detail_retention);

/// Stored runs of line detail of one ingest.
async fn lines_of(s: &Svc, ingest_id: i64) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM ingest_lines WHERE ingest_id = $1")
        .bind(ingest_id)
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .get(0)
}
