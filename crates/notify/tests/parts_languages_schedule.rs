//! The optional machine-readable parts (X-ARF v4 per host, IntelMQ events), the language chosen
//! per contact (imported or entered, checked against the templates' languages), and the
//! scheduled run that `taskforce serve` starts — against the real SMTP sink on loopback, on
//! SQLite and PostgreSQL.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sqlx::Row;
use support::*;
use taskforce_notify::api::NotifyState;
use taskforce_notify::deliver;
use taskforce_notify::plan;
use taskforce_notify::schedule::{self, Tick};
use taskforce_notify::templates::Templates;

fn templates() -> Templates {
    Templates::load(None).unwrap()
}

/// `ip` as a whole address (192.0.2.1 is not in 192.0.2.17).
fn has_ip(text: &str, ip: &str) -> bool {
    let b = text.as_bytes();
    text.match_indices(ip).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + ip.len()).copied();
        !before.is_some_and(|c| c.is_ascii_digit() || c == b'.') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// File name → decoded content of every attachment of a stored message.
fn attachments(msg: &str) -> BTreeMap<String, Vec<u8>> {
    let body = msg.split_once("\r\n").map(|(_, rest)| rest).unwrap_or(msg); // drop X-Envelope-To
    fn walk(m: &mailparse::ParsedMail, out: &mut BTreeMap<String, Vec<u8>>) {
        if let Some(name) = m.get_content_disposition().params.get("filename") {
            out.insert(name.clone(), m.get_body_raw().unwrap());
        }
        for s in &m.subparts {
            walk(s, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&mailparse::parse_mail(body.as_bytes()).unwrap(), &mut out);
    out
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_cve(s: &str) -> bool {
    let mut it = s.splitn(3, '-');
    it.next() == Some("CVE")
        && it.next().is_some_and(|y| y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()))
        && it.next().is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The fields X-ARF v4 requires of every report and of the two types we write.
fn check_xarf(r: &Value, file: &str) {
    let version = r["xarf_version"].as_str().unwrap_or_default();
    let v: Vec<&str> = version.split('.').collect();
    assert!(v.len() == 3 && v[0] == "4" && v.iter().all(|p| p.parse::<u32>().is_ok()), "{file}: version {version}");
    assert!(is_uuid(r["report_id"].as_str().unwrap_or_default()), "{file}: report_id");
    assert!(r["timestamp"].as_str().unwrap_or_default().parse::<jiff::Timestamp>().is_ok(), "{file}: timestamp");
    for who in ["reporter", "sender"] {
        for k in ["org", "contact", "domain"] {
            assert!(!r[who][k].as_str().unwrap_or_default().is_empty(), "{file}: {who}.{k}");
        }
        assert_eq!(r[who]["org"], "National CERT");
        assert_eq!(r[who]["contact"], "cert@taskforce.example");
        assert_eq!(r[who]["domain"], "taskforce.example");
    }
    assert!(r["source_identifier"].as_str().unwrap_or_default().parse::<std::net::IpAddr>().is_ok(), "{file}");
    match (r["category"].as_str(), r["type"].as_str()) {
        (Some("vulnerability"), Some("cve")) => {
            assert!(!r["service"].as_str().unwrap_or_default().is_empty(), "{file}: service");
            assert!(r["service_port"].as_u64().is_some_and(|p| (1..=65535).contains(&p)), "{file}: service_port");
            assert!(is_cve(r["cve_id"].as_str().unwrap_or_default()), "{file}: cve_id");
            assert!(r["cve_ids"].as_array().unwrap().iter().all(|c| is_cve(c.as_str().unwrap())));
        }
        (Some("infrastructure"), Some("compromised_server")) => {
            let t = r["compromise_type"].as_str().unwrap_or_default();
            assert!(["webshell", "backdoor"].contains(&t), "{file}: compromise_type {t}");
        }
        other => panic!("{file}: unexpected category/type {other:?}"),
    }
}

/// Each message carries one X-ARF report per host of its organisation and the organisation's
/// IntelMQ events; both parse, carry the required fields, and hold only that organisation's hosts.
async fn xarf_and_intelmq_parts(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let sink = Sink::start(&[]);
    let mut cfg = config(&sink);
    cfg.attach_xarf = true;
    cfg.attach_intelmq = true;
    cfg.reporter_org = "National CERT".into();
    let r = deliver::send(&s.db, &cfg, &templates(), None).await.unwrap();
    assert_eq!(r.sent, 4, "{r:?}");
    let all_ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.17", "198.51.100.20", "203.0.113.5", "203.0.113.20"];
    let expect: [(&str, &[&str]); 4] = [
        ("abuse@alpha.example", &["192.0.2.1", "192.0.2.2"]),
        ("it@beta.example", &["192.0.2.17"]),
        ("noc@isp.example", &["198.51.100.20"]),
        ("abuse@transit.example", &["203.0.113.5"]),
    ];
    let msgs = sink.messages();
    for (to, own) in expect {
        let m = msgs.iter().find(|m| m.starts_with(&format!("X-Envelope-To: {to}\r\n"))).unwrap();
        let ticket = header(m, "X-Taskforce-Ticket").unwrap();
        let parts = attachments(m);
        assert!(parts.contains_key(&format!("{ticket}-hosts.csv")), "{to}: {:?}", parts.keys());
        // X-ARF: one report per host, no other organisation's address anywhere in it.
        let mut reported = BTreeSet::new();
        let mut categories = BTreeSet::new();
        for (name, bytes) in parts.iter().filter(|(n, _)| n.contains("-xarf-")) {
            assert!(name.starts_with(&ticket) && name.ends_with(".json"), "{name}");
            let text = String::from_utf8(bytes.clone()).unwrap();
            let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            check_xarf(&report, name);
            let ip = report["source_identifier"].as_str().unwrap().to_string();
            assert!(name.contains(&ip), "{name} is about {ip}");
            assert!(report["tags"].as_array().unwrap().contains(&json!(format!("ticket:{}", ticket.to_lowercase()))));
            for other in all_ips.iter().filter(|i| **i != ip) {
                assert!(!has_ip(&text, other), "{name} holds another host {other}");
            }
            categories.insert(report["type"].as_str().unwrap().to_string());
            assert!(reported.insert(ip), "one report per host");
        }
        assert_eq!(reported, own.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), "{to}");
        if to == "abuse@alpha.example" {
            assert_eq!(categories, ["compromised_server", "cve"].map(String::from).into(), "both kinds of incident");
        }
        // IntelMQ: one event per host, with the fields IntelMQ needs.
        let events = parts.get(&format!("{ticket}-events.jsonl")).unwrap_or_else(|| panic!("{to}: no IntelMQ part"));
        let mut ips = BTreeSet::new();
        for line in String::from_utf8(events.clone()).unwrap().lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            for k in [
                "feed.name",
                "time.observation",
                "time.source",
                "source.ip",
                "classification.taxonomy",
                "classification.type",
            ] {
                assert!(e.get(k).is_some_and(|v| !v.is_null()), "{to}: event without {k}: {line}");
            }
            assert_eq!(e["__type"], "Event");
            ips.insert(e["source.ip"].as_str().unwrap().to_string());
        }
        let own_all: BTreeSet<String> = all_ips
            .iter()
            .filter(|i| own.contains(i) || (to == "abuse@alpha.example" && **i == "192.0.2.3"))
            .map(|s| s.to_string())
            .collect();
        assert!(ips.iter().all(|i| own_all.contains(i)), "{to}: another organisation's host in {ips:?}");
        assert!(own.iter().all(|i| ips.contains(*i)), "{to}: {ips:?}");
    }
    // Without the options, the message carries the CSV alone.
    let plain = deliver::send(&s.db, &config(&sink), &templates(), None).await.unwrap();
    assert_eq!(plain.sent, 0, "nothing is due twice");
}
on_both!(xarf_and_intelmq_parts);

/// `lang` from the organisations CSV and the contacts API: checked against the templates'
/// languages (an unknown one is refused naming the row or the value), and the message is written
/// in it whatever the country says.
async fn language_per_contact(kind: &str) {
    let Some(s) = svc(kind).await else { return };
    let orgs = "org,network,cc,abuse_email,lang\n\
US Org,192.0.2.0/28,US,abuse@us.example,de\n\
DE Org,192.0.2.16/28,DE,abuse@de.example,EN\n\
FR Org,192.0.2.32/28,FR,abuse@fr.example,fr\n\
Plain,192.0.2.48/28,DE,abuse@plain.example,\n";
    let summary = s.upload("orgs", "orgs.csv", orgs).await;
    assert_eq!((summary["rows_ok"].as_u64(), summary["rows_rejected"].as_u64()), (Some(3), Some(1)), "{summary}");
    let err = &summary["errors"][0];
    assert_eq!(err["line"], 4, "{summary}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("\"fr\"") && message.contains("en, de"), "{message}");
    let mut feed = SS_HEADER.to_string();
    for (i, ip) in ["192.0.2.1", "192.0.2.17", "192.0.2.49"].iter().enumerate() {
        feed += &row("2021-03-10 01:00:00", ip, "exchange;cve-2021-26855", 64496, &format!("S{i}"), "");
    }
    s.upload("shadowserver", "2021-03-10-scan_exchange.csv", feed).await;
    // The API: an unknown language is refused with its value; a known one is stored.
    let plain = org_id(&s, "Plain").await;
    let (st, body) = s
        .call(
            "POST",
            &format!("/api/v1/organisations/{plain}/contacts"),
            Some(&s.analyst),
            json!({"email": "ciso@plain.example", "lang": "klingon"}).to_string(),
        )
        .await;
    assert_eq!(st, 400);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("klingon") && body.contains("en, de"), "{body}");
    let made = s
        .ok(
            "POST",
            &format!("/api/v1/organisations/{plain}/contacts"),
            json!({"email": "ciso@plain.example", "lang": "EN"}).to_string(),
        )
        .await;
    assert_eq!(made["lang"], "en");
    let detail = s.get(&format!("/api/v1/organisations/{plain}")).await;
    let langs: BTreeMap<String, Value> = detail["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["email"].as_str().unwrap().to_string(), c["lang"].clone()))
        .collect();
    assert_eq!(langs["ciso@plain.example"], "en");
    assert_eq!(langs["abuse@plain.example"], Value::Null, "no language: by the country");

    let sink = Sink::start(&[]);
    let cfg = config(&sink);
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    let lang_of = |name: &str| {
        let i = p.items.iter().find(|i| i.org_name == name).unwrap();
        let r = i.recipient.as_ref().unwrap();
        (r.email.clone(), r.lang.clone())
    };
    assert_eq!(
        lang_of("US Org"),
        ("abuse@us.example".into(), "de".into()),
        "the contact's language over the country's"
    );
    assert_eq!(lang_of("DE Org"), ("abuse@de.example".into(), "en".into()));
    assert_eq!(lang_of("Plain"), ("ciso@plain.example".into(), "en".into()), "the manual contact, in its language");
    assert!(p.items.iter().all(|i| i.org_name != "FR Org"), "the refused row created nothing");
    let r = deliver::send(&s.db, &cfg, &templates(), None).await.unwrap();
    assert_eq!(r.sent, 3, "{r:?}");
    let msgs = sink.messages();
    let text_to =
        |to: &str| decoded_text(msgs.iter().find(|m| m.starts_with(&format!("X-Envelope-To: {to}\r\n"))).unwrap());
    assert!(text_to("abuse@us.example").contains("Sehr geehrte"), "German for the US organisation's German contact");
    for to in ["abuse@de.example", "ciso@plain.example"] {
        let t = text_to(to);
        assert!(t.contains("Dear") && !t.contains("Sehr geehrte"), "English for {to}");
    }
    let langs: Vec<String> = sqlx::query("SELECT lang FROM notify_outbox ORDER BY recipient")
        .fetch_all(&s.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect();
    assert_eq!(langs, ["en", "de", "en"], "abuse@de, abuse@us, ciso@plain");
    // A re-import changes an imported contact's language.
    let again = s.upload("orgs", "orgs2.csv", "org,cc,abuse_email,language\nUS Org,US,abuse@us.example,en\n").await;
    assert_eq!(again["rows_ok"], 1, "{again}");
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    let us = p.items.iter().find(|i| i.org_name == "US Org").unwrap();
    assert_eq!(us.recipient.as_ref().unwrap().lang, "en");
}
on_both!(language_per_contact);

async fn audited_runs(s: &Svc) -> Vec<String> {
    sqlx::query("SELECT action FROM audit_log WHERE actor = $1 ORDER BY id")
        .bind(schedule::ACTOR)
        .fetch_all(&s.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect()
}

/// One scheduled tick: skipped while another run is in progress (here or in another process),
/// keeps the messages for later when the SMTP server is down, delivers once it answers, and sends
/// nothing more inside the interval; each run audited.
async fn schedule_ticks(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sink = Sink::start(&[]);
    let state = |smtp: String| {
        let mut cfg = config(&sink);
        cfg.smtp = smtp;
        cfg.retry_base_secs = 1;
        cfg.schedule_secs = 1;
        NotifyState {
            config: std::sync::Arc::new(cfg),
            templates: std::sync::Arc::new(templates()),
            sending: Default::default(),
        }
    };
    let down = state(format!("smtp://127.0.0.1:{closed}"));
    match schedule::tick(&s.db, &down).await {
        Tick::Ran(r) => assert_eq!((r.enqueued.len(), r.sent, r.deferred), (4, 0, 4), "{r:?}"),
        other => panic!("{other:?}"),
    }
    let up = state(sink.url());
    // A run in progress: in this process (the API's send) or in another one (a `notify send`).
    let busy = up.sending.clone();
    let guard = busy.lock().await;
    assert!(matches!(schedule::tick(&s.db, &up).await, Tick::Skipped("this process")));
    drop(guard);
    let held = taskforce_notify::run_lock::try_acquire(&s.db).await.unwrap().unwrap();
    assert!(matches!(schedule::tick(&s.db, &up).await, Tick::Skipped("another process")));
    held.release().await;
    assert!(sink.messages().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the retry time
    match schedule::tick(&s.db, &up).await {
        Tick::Ran(r) => assert_eq!((r.enqueued.len(), r.sent), (0, 4), "{r:?}"),
        other => panic!("{other:?}"),
    }
    match schedule::tick(&s.db, &up).await {
        Tick::Ran(r) => assert_eq!((r.enqueued.len(), r.sent, r.deferred), (0, 0, 0), "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sink.messages().len(), 4);
    assert_eq!(audited_runs(&s).await, ["send", "send", "send"]);
    // A run that fails outright (here: a sender address that is none) is logged and audited,
    // and the next tick tries again.
    let broken = {
        let mut cfg = (*up.config).clone();
        cfg.from = "not an address".into();
        NotifyState { config: std::sync::Arc::new(cfg), ..up.clone() }
    };
    assert!(matches!(schedule::tick(&s.db, &broken).await, Tick::Failed(e) if e.contains("not a sender address")));
    assert_eq!(audited_runs(&s).await.last().map(String::as_str), Some("send_failed"));
    assert!(matches!(schedule::tick(&s.db, &up).await, Tick::Ran(_)));
}
on_both!(schedule_ticks);
