//! `taskforce notify` end to end against a real SMTP server on loopback, on SQLite and
//! PostgreSQL: grouping, contact order, language, isolation between organisations, intervals and
//! escalations, retries, permanent refusals, bounces, tickets and the communication history.

mod support;

use serde_json::json;
use sqlx::Row;
use support::*;
use taskforce_notify::deliver;
use taskforce_notify::outbox::Composer;
use taskforce_notify::plan::{self, Decision, RecipientKind};
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

async fn comm_state(s: &Svc, org: i64) -> String {
    s.get(&format!("/api/v1/organisations/{org}")).await["comm_state"].as_str().unwrap().to_string()
}

/// Every message goes to the right address, once per organisation, grouped, in its language, and
/// holds nothing of another organisation; "no contact" is listed; the communication axis and its
/// history follow.
async fn grouping_contact_order_and_isolation(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let beta = org_id(&s, "Beta GmbH").await;
    // A manual contact wins over the imported one.
    s.ok("POST", &format!("/api/v1/organisations/{beta}/contacts"), json!({"email": "sec@beta.example"}).to_string())
        .await;
    let sink = Sink::start(&[]);
    let cfg = config(&sink);
    let t = templates();

    let before = taskforce_service::time::now();
    let p = plan::plan(&s.db, &cfg, &before).await.unwrap();
    let by_name = |n: &str| p.items.iter().find(|i| i.org_name == n).unwrap_or_else(|| panic!("{n} not planned"));
    let expect = [
        ("Alpha Town", Some("abuse@alpha.example"), Some(RecipientKind::Contact)),
        ("Beta GmbH", Some("sec@beta.example"), Some(RecipientKind::Manual)),
        ("Gamma LLC", Some("noc@isp.example"), Some(RecipientKind::Network)),
        ("Delta Inc", Some("abuse@transit.example"), Some(RecipientKind::Asn)),
        ("Epsilon Co", None, None),
    ];
    for (name, email, k) in expect {
        let i = by_name(name);
        assert_eq!(i.recipient.as_ref().map(|r| r.email.as_str()), email, "{name}");
        assert_eq!(i.recipient.as_ref().map(|r| r.kind), k, "{name}");
    }
    assert_eq!(by_name("Beta GmbH").fallbacks[0].email, "it@beta.example");
    assert_eq!(by_name("Epsilon Co").decision, Decision::NoContact);
    assert_eq!(by_name("Alpha Town").hosts.len(), 2, "the exposed host needs no action");
    // Organisations without hosts needing action are not planned.
    assert!(p.items.iter().all(|i| i.org_name != "Upstream ISP" && i.org_name != "Transit AS"));
    // Planning changed nothing.
    assert_eq!(s.count("notify_outbox").await, 0);
    assert_eq!(s.count("notify_ticket").await, 0);

    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    assert_eq!((r.sent, r.failed, r.deferred, r.no_contact), (4, 0, 0, 1), "{r:?}");
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 4);
    let all_ips = ["192.0.2.1", "192.0.2.2", "192.0.2.17", "198.51.100.20", "203.0.113.5", "203.0.113.20"];
    let all_addrs =
        ["abuse@alpha.example", "sec@beta.example", "it@beta.example", "noc@isp.example", "abuse@transit.example"];
    for (name, to, own_ips) in [
        ("Alpha Town", "abuse@alpha.example", &["192.0.2.1", "192.0.2.2"][..]),
        ("Beta GmbH", "sec@beta.example", &["192.0.2.17"][..]),
        ("Gamma LLC", "noc@isp.example", &["198.51.100.20"][..]),
        ("Delta Inc", "abuse@transit.example", &["203.0.113.5"][..]),
    ] {
        let m = msgs
            .iter()
            .find(|m| m.starts_with(&format!("X-Envelope-To: {to}\r\n")))
            .unwrap_or_else(|| panic!("nothing to {to}"));
        let text = decoded_text(m);
        let ticket = header(m, "X-Taskforce-Ticket").unwrap();
        assert!(ticket.starts_with("TF-") && ticket.len() == 18, "{ticket}");
        assert!(text.contains(&format!("[{ticket}]")), "ticket in the subject: {text}");
        assert!(header(m, "Message-ID").unwrap().contains(&ticket));
        assert!(text.contains(name), "{name}");
        for ip in own_ips {
            assert!(has_ip(&text, ip), "{name} must see {ip}");
        }
        for ip in all_ips.iter().filter(|ip| !own_ips.contains(ip)) {
            assert!(!has_ip(&text, ip), "{name}'s message holds another organisation's host {ip}");
        }
        for a in all_addrs.iter().filter(|a| **a != to && !(name == "Beta GmbH" && **a == "it@beta.example")) {
            assert!(!text.contains(a), "{name}'s message holds another organisation's address {a}");
        }
        assert!(text.contains("https://taskforce.example/portal?token=tf_"), "self-service link");
        assert!(text.contains("timestamp,ip,port,hostname,tag"), "the CSV export is attached");
    }
    let alpha_msg = decoded_text(msgs.iter().find(|m| m.starts_with("X-Envelope-To: abuse@alpha.example")).unwrap());
    assert!(alpha_msg.contains("Do not just patch") && alpha_msg.contains("taskforce hunt"));
    assert!(alpha_msg.contains("fixed from build 15.1.2176."), "which update fixes it: {alpha_msg}");
    let beta_msg = decoded_text(msgs.iter().find(|m| m.starts_with("X-Envelope-To: sec@beta.example")).unwrap());
    assert!(beta_msg.contains("Ihre Server") && beta_msg.contains("Sehr geehrte"), "German for a German organisation");
    let gamma_msg = decoded_text(msgs.iter().find(|m| m.starts_with("X-Envelope-To: noc@isp.example")).unwrap());
    assert!(gamma_msg.contains("Gamma LLC"));

    // The self-service token works for its organisation only, and not after its expiry.
    let token = alpha_msg
        .split("portal?token=")
        .nth(1)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap();
    let alpha = org_id(&s, "Alpha Town").await;
    let (st, _) =
        s.call("GET", &format!("/api/v1/organisations/{alpha}"), Some(token), axum::body::Body::empty()).await;
    assert_eq!(st, 200);
    let (st, _) = s.call("GET", &format!("/api/v1/organisations/{beta}"), Some(token), axum::body::Body::empty()).await;
    assert_eq!(st, 403);
    sqlx::query("UPDATE api_token SET expires_at = '2000-01-01T00:00:00Z' WHERE org_id = $1")
        .bind(alpha)
        .execute(&s.db.pool)
        .await
        .unwrap();
    let (st, _) =
        s.call("GET", &format!("/api/v1/organisations/{alpha}"), Some(token), axum::body::Body::empty()).await;
    assert_eq!(st, 401, "an expired token is refused");

    // Communication axis: notified, with the ticket as source, and history by date.
    assert_eq!(comm_state(&s, alpha).await, "notified");
    assert_eq!(comm_state(&s, org_id(&s, "Epsilon Co").await).await, "not_contacted");
    let src: String = sqlx::query("SELECT source FROM state_event WHERE org_id = $1 AND axis = 'communication'")
        .bind(alpha)
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(src.starts_with("notify:TF-"), "{src}");
    let past = s.get(&format!("/api/v1/organisations/{alpha}?at=2021-03-12")).await;
    assert_eq!(past["at"]["comm_state"], "not_contacted");
    let now = s.get(&format!("/api/v1/organisations/{alpha}?at={}", taskforce_service::time::now())).await;
    assert_eq!(now["at"]["comm_state"], "notified");

    // Nothing again inside the interval.
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    assert!(
        p.items.iter().filter(|i| i.recipient.is_some()).all(|i| i.decision == Decision::WithinInterval),
        "{:?}",
        p.items.iter().map(|i| (&i.org_name, i.decision)).collect::<Vec<_>>()
    );
    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    assert_eq!(r.sent, 0);
    assert_eq!(sink.messages().len(), 4);
}
on_both!(grouping_contact_order_and_isolation);

/// The plan read a batch at a time says the same whatever the batch size, and the exports a
/// batch of messages attaches are byte for byte each organisation's own export.
async fn batches_change_nothing(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let sink = Sink::start(&[]);
    let cfg = config(&sink);
    let now = taskforce_service::time::now();
    let whole = plan::plan(&s.db, &cfg, &now).await.unwrap();
    assert!(whole.items.len() >= 4, "{}", whole.items.len());
    for size in [1, 2, 3] {
        let mut planner = plan::Planner::new(&s.db, &cfg, &now).await.unwrap().with_batch_size(size);
        let mut items = Vec::new();
        let mut batches = 0;
        while let Some(batch) = planner.next_batch().await.unwrap() {
            assert!(batch.len() <= size);
            batches += 1;
            items.extend(batch);
        }
        assert!(batches >= whole.items.len().div_ceil(size));
        assert_eq!(
            serde_json::to_value(&items).unwrap(),
            serde_json::to_value(&whole.items).unwrap(),
            "batches of {size}"
        );
    }
    let orgs: Vec<i64> = whole.items.iter().map(|i| i.org_id).collect();
    let batch = taskforce_service::api::export::exports_batch(&s.db, &orgs, true).await.unwrap();
    assert_eq!(batch.len(), orgs.len());
    for org in orgs {
        let one = taskforce_service::api::export::csv_bytes(&s.db, org).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&batch[&org].csv), String::from_utf8_lossy(&one), "organisation {org}");
        let lines = taskforce_service::api::export::intelmq_lines(&s.db, org).await.unwrap();
        assert_eq!(batch[&org].intelmq.as_ref().unwrap().lines().count(), lines.lines().count(), "organisation {org}");
    }
}
on_both!(batches_change_nothing);

/// Inside the interval only an escalation goes out, at once; after it a reminder.
async fn interval_and_escalation(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let sink = Sink::start(&[]);
    let mut cfg = config(&sink);
    let t = templates();
    deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    assert_eq!(sink.messages().len(), 4);
    // Gamma's host is now compromised: an escalation; Delta unchanged.
    let csv = format!(
        "{SS_HEADER}{}",
        row("2021-03-11 01:00:00", "198.51.100.20", "exchange;webshell", 64496, "GAMMA", "/owa/auth/y.aspx")
    );
    s.upload("shadowserver", "2021-03-11-scan_exchange.csv", csv).await;
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    let gamma = p.items.iter().find(|i| i.org_name == "Gamma LLC").unwrap();
    assert_eq!(gamma.decision, Decision::Escalation, "{}", gamma.why);
    assert!(gamma.why.contains("198.51.100.20"));
    assert_eq!(p.items.iter().find(|i| i.org_name == "Delta Inc").unwrap().decision, Decision::WithinInterval);
    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    assert_eq!(r.sent, 1);
    let msgs = sink.messages();
    let last = decoded_text(msgs.last().unwrap());
    assert!(last.contains("got worse") && last.contains("Gamma LLC"), "{last}");
    // A regression (patched, then vulnerable again) is an escalation too.
    let delta_ip = "203.0.113.5";
    let probe = |time: &str, status: &str| {
        json!({"schema": "taskforce.probe.v1", "time": time, "target": delta_ip, "address": delta_ip, "port": 443, "reachable": true,
            "exchange": true, "build": "15.1.2176.9", "precision": "full", "patch": [{"family": "ProxyLogon", "status": status}]}).to_string() + "\n"
    };
    s.upload("probe", "p1.jsonl", probe("2021-03-12T00:00:00Z", "fixed")).await;
    s.upload("probe", "p2.jsonl", probe("2021-03-13T00:00:00Z", "vulnerable")).await;
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    let delta = p.items.iter().find(|i| i.org_name == "Delta Inc").unwrap();
    assert_eq!(delta.decision, Decision::Escalation, "{}", delta.why);
    assert!(delta.why.contains("regressed"));
    deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    // With a zero interval everyone with a contact is reminded.
    cfg.interval_secs = 0;
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    let reminders = p.items.iter().filter(|i| i.decision == Decision::Reminder).count();
    assert_eq!(reminders, 4, "{:?}", p.items.iter().map(|i| (&i.org_name, i.decision)).collect::<Vec<_>>());
    let before = sink.messages().len();
    deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    let msgs = sink.messages();
    assert_eq!(msgs.len(), before + 4);
    assert!(
        decoded_text(msgs.last().unwrap()).contains("reminder")
            || msgs.iter().skip(before).any(|m| decoded_text(m).contains("Erinnerung"))
    );
}
on_both!(interval_and_escalation);

/// 4xx: deferred and retried with the same Message-ID; 5xx: the address bounces, the ticket moves
/// to the next contact; with none left the organisation is unreachable.
async fn retry_bounce_and_unreachable(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let beta = org_id(&s, "Beta GmbH").await;
    s.ok("POST", &format!("/api/v1/organisations/{beta}/contacts"), json!({"email": "sec@beta.example"}).to_string())
        .await;
    let sink = Sink::start(&[
        "--tempfail",
        "abuse@alpha.example",
        "--tempfail-times",
        "1",
        "--permfail",
        "sec@beta.example",
        "--permfail",
        "noc@isp.example",
    ]);
    let mut cfg = config(&sink);
    // The first retry waits 2 × base; long enough that a loaded machine cannot reach the
    // "not before its time" check after it.
    cfg.retry_base_secs = 3;
    let t = templates();
    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    let deferred_at = std::time::Instant::now();
    // Alpha deferred; Beta refused then sent to its imported contact; Gamma's only address refused;
    // Delta sent.
    assert_eq!(r.deferred, 1, "{r:?}");
    assert_eq!(r.bounced, 2, "{r:?}");
    assert_eq!(r.next_contact, 1, "{r:?}");
    assert_eq!(r.unreachable, 1, "{r:?}");
    let deferred: (String, i64, String) = {
        let row = sqlx::query(
            "SELECT message_id, attempts, last_error FROM notify_outbox WHERE recipient = 'abuse@alpha.example'",
        )
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
        (row.try_get(0).unwrap(), row.try_get(1).unwrap(), row.try_get(2).unwrap())
    };
    assert_eq!(deferred.1, 1);
    assert!(deferred.2.contains("451"), "{}", deferred.2);
    let msgs = sink.messages();
    let beta_msgs: Vec<_> =
        msgs.iter().filter(|m| m.contains("Beta GmbH") || decoded_text(m).contains("Beta GmbH")).collect();
    assert_eq!(beta_msgs.len(), 1);
    assert!(beta_msgs[0].starts_with("X-Envelope-To: it@beta.example"));
    let tickets: Vec<String> = sqlx::query("SELECT t.ticket FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id WHERE o.org_id = $1 ORDER BY o.id")
        .bind(beta)
        .fetch_all(&s.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect();
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0], tickets[1], "the next contact gets the same ticket");
    let gamma = org_id(&s, "Gamma LLC").await;
    assert_eq!(comm_state(&s, gamma).await, "unreachable");
    assert_eq!(comm_state(&s, beta).await, "notified");
    let p = plan::plan(&s.db, &cfg, &taskforce_service::time::now()).await.unwrap();
    assert_eq!(p.items.iter().find(|i| i.org_id == gamma).unwrap().decision, Decision::NoContact);
    // Not before its time; then the retry goes out with the same Message-ID.
    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    if deferred_at.elapsed() < std::time::Duration::from_secs(5) {
        assert_eq!(r.sent, 0, "{r:?}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(6200).saturating_sub(deferred_at.elapsed())).await;
    let r = deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    assert_eq!(r.sent, 1, "{r:?}");
    let msgs = sink.messages();
    let alpha: Vec<_> = msgs.iter().filter(|m| m.starts_with("X-Envelope-To: abuse@alpha.example")).collect();
    assert_eq!(alpha.len(), 1);
    assert_eq!(header(alpha[0], "Message-ID").unwrap(), deferred.0);
}
on_both!(retry_bounce_and_unreachable);

/// A delivery status notification in a Maildir counts as a bounce; a junk file is skipped with
/// its reason; reading the same folder again counts nothing twice.
async fn bounces_from_maildir(kind: &str) {
    let Some(s) = world(kind).await else { return };
    let sink = Sink::start(&[]);
    let cfg = config(&sink);
    let t = templates();
    deliver::send(&s.db, &cfg, &t, None).await.unwrap();
    let alpha = org_id(&s, "Alpha Town").await;
    let row = sqlx::query("SELECT o.message_id, t.ticket FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id WHERE o.org_id = $1")
        .bind(alpha)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    let (mid, ticket): (String, String) = (row.try_get(0).unwrap(), row.try_get(1).unwrap());
    let maildir = tempfile::tempdir().unwrap();
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir(maildir.path().join(d)).unwrap();
    }
    let dsn = format!(
        "From: MAILER-DAEMON@mx.alpha.example\r\nTo: cert@taskforce.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.alpha.example\r\n\r\n\
Final-Recipient: rfc822; abuse@alpha.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {mid}\r\nX-Taskforce-Ticket: {ticket}\r\nSubject: [{ticket}] x\r\n\r\n--b1--\r\n"
    );
    std::fs::write(maildir.path().join("new/1.mail"), dsn).unwrap();
    std::fs::write(maildir.path().join("cur/2.mail"), "Subject: out of office\r\n\r\nI am away.").unwrap();
    let composer = Composer { db: &s.db, cfg: &cfg, templates: &t };
    let r = taskforce_notify::bounces::apply(&composer, maildir.path()).await.unwrap();
    assert_eq!((r.read, r.bounced, r.unreachable), (1, 1, 1), "{r:?}");
    assert_eq!(r.skipped.len(), 1);
    assert!(
        r.skipped[0].source.ends_with("2.mail") && r.skipped[0].reason.contains("not a delivery status"),
        "{:?}",
        r.skipped
    );
    assert_eq!(comm_state(&s, alpha).await, "unreachable");
    let bounced: i64 = sqlx::query("SELECT COUNT(*) FROM notify_bounce WHERE email = 'abuse@alpha.example'")
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(bounced, 1);
    let again = taskforce_notify::bounces::apply(&composer, maildir.path()).await.unwrap();
    assert_eq!((again.bounced, again.already_counted), (0, 1));
}
on_both!(bounces_from_maildir);

/// The API: plan, send, outbox, tickets and their detail, acknowledgement (audited), and who may
/// call what.
async fn api_and_acknowledgement(kind: &str) {
    let Some(world) = world(kind).await else { return };
    let sink = Sink::start(&[]);
    let cfg = config(&sink);
    let state = taskforce_notify::api::NotifyState {
        config: std::sync::Arc::new(cfg),
        templates: std::sync::Arc::new(templates()),
        sending: Default::default(),
    };
    let app = taskforce_service::api::router_with(
        taskforce_service::api::AppState {
            db: world.db.clone(),
            config: std::sync::Arc::new(taskforce_service::Config::default()),
        },
        taskforce_notify::api::routes(state),
    );
    let s = Svc { app, ..world };
    let alpha = org_id(&s, "Alpha Town").await;
    let (_, reporter) =
        taskforce_service::tokens::create(&s.db, "rep", taskforce_service::tokens::Role::Reporter, Some(alpha))
            .await
            .unwrap();
    for ep in taskforce_notify::api::ENDPOINTS {
        let path = ep.path.replace("{ticket}", "TF-20210312-000001");
        let (st, _) = s.call(ep.method, &path, None, axum::body::Body::empty()).await;
        assert_eq!(st, 401, "{} {path} without a token", ep.method);
        let (st, _) = s.call(ep.method, &path, Some(&reporter), axum::body::Body::empty()).await;
        assert_eq!(st, 403, "{} {path} as a reporter", ep.method);
    }
    let plan = s.get("/api/v1/notify/plan").await;
    assert_eq!(plan["items"].as_array().unwrap().len(), 5);
    let sent = s.ok("POST", "/api/v1/notify/send", "{}").await;
    assert_eq!(sent["sent"], 4, "{sent}");
    let outbox = s.get("/api/v1/notify/outbox?status=sent").await;
    assert_eq!(outbox["total"], 4, "{outbox}");
    assert!(outbox["items"][0].get("message").is_none(), "the list does not carry the message (nor its token)");
    let (st, _) =
        s.call("GET", "/api/v1/notify/outbox?status=bogus", Some(&s.analyst), axum::body::Body::empty()).await;
    assert_eq!(st, 400);
    let tickets = s.get(&format!("/api/v1/notify/tickets?org={alpha}")).await;
    let ticket = tickets["items"][0]["ticket"].as_str().unwrap().to_string();
    let detail = s.get(&format!("/api/v1/notify/tickets/{ticket}")).await;
    assert_eq!(detail["org_id"], alpha);
    assert_eq!(detail["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(detail["summary"]["org_name"], "Alpha Town");
    assert_eq!(detail["summary"]["portal_url"], "", "the stored summary keeps no token");
    assert_eq!(detail["messages"][0]["status"], "sent");
    let (st, _) =
        s.call("GET", "/api/v1/notify/tickets/TF-19990101-999999", Some(&s.analyst), axum::body::Body::empty()).await;
    assert_eq!(st, 404);
    s.ok("POST", &format!("/api/v1/notify/tickets/{ticket}/acknowledge"), "").await;
    assert_eq!(comm_state(&s, alpha).await, "acknowledged");
    let (st, _) = s
        .call(
            "POST",
            &format!("/api/v1/notify/tickets/{ticket}/acknowledge"),
            Some(&s.analyst),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(st, 409, "acknowledged twice");
    let audit = s.get("/api/v1/audit").await.to_string();
    assert!(audit.contains("acknowledge") && audit.contains(&ticket) && audit.contains("\"send\""), "{audit}");
}
on_both!(api_and_acknowledgement);

/// The notification routes in the service's OpenAPI document are exactly `api::ENDPOINTS`.
#[test]
fn openapi_documents_the_notify_routes() {
    let doc = taskforce_service::api::OPENAPI_YAML;
    let mut documented = Vec::new();
    let mut path = String::new();
    for line in doc.lines() {
        if let Some(p) = line.strip_prefix("  /") {
            path = format!("/{}", p.trim_end_matches(':'));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && ["get", "post", "put", "delete", "patch"].contains(&m)
            && path.starts_with("/api/v1/notify/")
        {
            documented.push(format!("{} {path}", m.to_uppercase()));
        }
    }
    let mut routes: Vec<String> =
        taskforce_notify::api::ENDPOINTS.iter().map(|e| format!("{} {}", e.method, e.path)).collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
}

/// A broken template is refused at load with its file and line.
#[test]
fn broken_templates_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("en")).unwrap();
    let file = dir.path().join("en/body.txt");
    std::fs::write(&file, "Hello {{ org_name }}\n\n{% for h in hosts %}\n{{ h.ip }\n{% endfor %}\n").unwrap();
    let err = Templates::load(Some(dir.path())).err().expect("a syntax error is refused").to_string();
    assert!(err.contains(&file.display().to_string()) && err.contains(":4:"), "{err}");
    // An unknown variable is caught at load too, not in the middle of a batch.
    std::fs::write(&file, "Hello {{ org_name }}\n{{ no_such_thing.x }}\n").unwrap();
    let err = Templates::load(Some(dir.path())).err().expect("an unknown variable is refused").to_string();
    assert!(err.contains("body.txt") && err.contains(":2:"), "{err}");
    // A good override is used.
    std::fs::write(&file, "Custom for {{ org_name }} ({{ ticket }})\n").unwrap();
    assert!(Templates::load(Some(dir.path())).is_ok());
}
