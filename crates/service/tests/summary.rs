//! The overview's kept summaries (migration 0007: `state_daily`, `org_matrix`) agree with the
//! answers computed from the state history and the organisation roll-ups, after feeds on several
//! days, a late file, probes, hunt reports and analyst records. On SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::*;
use taskforce_service::{dashboard, query, summary};

/// Hosts moving through every technical state over five days, some files arriving late.
async fn history(s: &Svc) {
    let mut orgs = String::from("org,network,asn,sector,cc,abuse_email\n");
    for i in 0..6 {
        orgs.push_str(&format!("Org {i},10.0.{i}.0/24,,Sector,US,abuse@org{i}.example\n"));
    }
    s.upload("orgs", "orgs.csv", orgs).await;
    // Day 1: seen (exposed) and vulnerable hosts; day 2: web shells; day 4 first, then a late
    // day-3 file (older evidence: history only, or a late compromise).
    let day = |d: u32, rows: &[(&str, &str)]| {
        let mut csv = String::from(SS_HEADER);
        for (ip, tag) in rows {
            let url = if tag.ends_with("webshell") { "/aspnet_client/x.aspx" } else { "" };
            csv.push_str(&ss_row(&format!("2021-03-{d:02} 02:00:00"), ip, tag, "S", url));
        }
        csv
    };
    let ips: Vec<String> = (0..6).flat_map(|o| (1..=4).map(move |h| format!("10.0.{o}.{h}"))).collect();
    let d1: Vec<(&str, &str)> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (ip.as_str(), if i % 3 == 0 { "exchange" } else { "exchange;cve-2021-26855" }))
        .collect();
    s.upload("shadowserver", "d1.csv", day(1, &d1)).await;
    let d2: Vec<(&str, &str)> = ips.iter().step_by(5).map(|ip| (ip.as_str(), "exchange;webshell")).collect();
    s.upload("shadowserver", "d2.csv", day(2, &d2)).await;
    let d4: Vec<(&str, &str)> =
        ips.iter().skip(1).step_by(4).map(|ip| (ip.as_str(), "exchange;cve-2021-26855")).collect();
    s.upload("shadowserver", "d4.csv", day(4, &d4)).await;
    let d3: Vec<(&str, &str)> = ips.iter().skip(2).step_by(6).map(|ip| (ip.as_str(), "exchange;webshell")).collect();
    s.upload("shadowserver", "d3-late.csv", day(3, &d3)).await;
    // Probes on day 5 showing fixed builds (patched), hunt reports, a remediation, contacts.
    let mut probes = String::new();
    for ip in ips.iter().skip(3).step_by(3) {
        probes.push_str(&probe_line("2021-03-05T10:00:00Z", ip, &["fixed"]));
    }
    s.upload("probe", "probe.jsonl", probes).await;
    let compromised = s.host_id(&ips[0]).await;
    s.ok("POST", &format!("/api/v1/hosts/{compromised}/remediation"), r#"{"note":"rebuilt"}"#).await;
    let org = s.get(&format!("/api/v1/hosts/{compromised}")).await["org_id"].as_i64().unwrap();
    s.ok(
        "POST",
        &format!("/api/v1/organisations/{org}/hunt-reports?ip={}&file_name=r.json", ips[0]),
        hunt_report_at("EX1", "clean", "fixed", Some("2021-03-06T00:00:00Z")),
    )
    .await;
    s.ok("POST", &format!("/api/v1/organisations/{org}/communication"), r#"{"state":"notified"}"#).await;
    s.ok("POST", "/api/v1/organisations/2/communication", r#"{"state":"notified"}"#).await;
}

fn non_zero(m: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    m.iter().filter(|(_, n)| **n != 0).map(|(k, n)| (k.clone(), *n)).collect()
}

async fn summaries_agree_with_the_history(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    history(&s).await;

    let kept = summary::trend(&s.db, 1000).await.unwrap();
    let derived = dashboard::trend_from_history(&s.db, 1000).await.unwrap();
    assert!(kept.len() >= 4, "several days of history: {kept:?}");
    assert_eq!(
        kept.iter().map(|p| (&p.day, &p.counts)).collect::<Vec<_>>(),
        derived.iter().map(|p| (&p.day, &p.counts)).collect::<Vec<_>>(),
        "the kept trend is the history's"
    );
    // Each day's counts are what `?at=` that day answers from the events themselves.
    for p in &kept {
        let at = format!("{}T23:59:59Z", p.day);
        let past = query::stats(&s.db, Some(&at)).await.unwrap();
        let from_summary = summary::hosts_at_end_of(&s.db, &p.day).await.unwrap();
        assert_eq!(non_zero(&from_summary), non_zero(&past.hosts), "hosts per state at the end of {}", p.day);
        assert_eq!(non_zero(&p.counts), non_zero(&past.hosts), "the chart's point for {}", p.day);
    }
    let last = kept.last().unwrap();
    let now = query::stats(&s.db, None).await.unwrap();
    assert_eq!(non_zero(&last.counts), non_zero(&now.hosts), "the last point is today's count");
    assert!(now.hosts.len() >= 4, "the scenario reaches several states: {:?}", now.hosts);

    let key = |c: &dashboard::MatrixCell| (c.tech_state.clone(), c.comm_state.clone(), c.organisations, c.hosts);
    let mut kept: Vec<_> = summary::matrix(&s.db).await.unwrap().iter().map(key).collect();
    let mut derived: Vec<_> =
        dashboard::state_matrix_from_organisations(&s.db).await.unwrap().iter().map(key).collect();
    kept.sort();
    derived.sort();
    assert_eq!(kept, derived, "the kept matrix is the roll-ups'");
    assert!(kept.iter().any(|c| c.1 == "notified"), "the matrix has the communication axis: {kept:?}");
    assert_eq!(kept.iter().map(|c| c.2).sum::<i64>(), 6, "every organisation with hosts once");
    assert_eq!(kept.iter().map(|c| c.3).sum::<i64>(), 24, "every host once");
}
on_both!(summaries_agree_with_the_history);
