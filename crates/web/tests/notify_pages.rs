//! The notification pages on SQLite and PostgreSQL with a real SMTP sink on loopback: the plan
//! preview (due and "no contact"), sending through the notification API's code path (the same
//! audit rows), the outbox with its filters and pages, tickets found by number, acknowledgement,
//! the organisation's tickets and messages, and refusal for reporters.

mod common;

use axum::http::StatusCode;
use common::{Jar, Sink, web};
use sqlx::Row;
use taskforce_service::tokens::Role;

async fn audit_rows(w: &common::Web, action: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action.to_string())
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn ticket_of(w: &common::Web, org: i64) -> String {
    sqlx::query("SELECT ticket FROM notify_ticket WHERE org_id = $1")
        .bind(org)
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn plan_send_outbox_tickets(kind: &str) {
    let Some(mut w) = web(kind).await else { return };
    let sink = Sink::start();
    w.mail_to(&sink);
    w.add_quiet_org().await;
    let quiet = w.org_id("Quiet Example Ltd").await;

    // Reporters never see the notification pages or act on them.
    let mut reporter = w.login_as("clinic-it", Role::Reporter, Some(w.clinic)).await;
    let csrf = w.get(&mut reporter, "/portal").await.csrf();
    for path in ["/notifications", "/notifications/tickets/TF-20210101-000001", "/notifications?ticket=TF-1"] {
        assert_eq!(w.get(&mut reporter, path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let a = w.post_form(&mut reporter, "/notifications/send", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(sink.count(), 0);

    // The plan preview: what would be sent, to whom and why; the organisation nobody can be
    // written to is listed, not dropped.
    let mut jar = w.login_as("ana", Role::Analyst, None).await;
    let a = w.get(&mut jar, "/notifications").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let due = section(&a.body, "id=\"plan-due\"");
    assert!(due.contains("County of Example") && due.contains("abuse@county.example"), "{due}");
    assert!(due.contains("Example Clinic") && due.contains("security@clinic.example"), "{due}");
    assert!(due.contains("first"), "the reason: {due}");
    assert!(!due.contains("Quiet Example Ltd"), "{due}");
    let none = section(&a.body, "id=\"plan-no-contact\"");
    assert!(none.contains("Quiet Example Ltd") && none.contains("203.0.113.5"), "{none}");
    assert!(section(&a.body, "id=\"outbox-rows\"").contains("No messages."));

    // Sending needs the form's CSRF token; without it nothing leaves.
    let a = w.post_form(&mut jar, "/notifications/send", &[("limit", "")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(sink.count(), 0);
    assert_eq!(w.scalar("SELECT COUNT(*) FROM notify_outbox").await, 0);
    let csrf = w.get(&mut jar, "/notifications").await.csrf();
    let a = w.post_form(&mut jar, "/notifications/send", &[("csrf", &csrf), ("limit", "")]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(a.location().starts_with("/notifications?saved=send&enqueued=2&sent=2"), "{}", a.location());
    assert_eq!(sink.count(), 2, "one message per organisation with an address");
    // The same audit row as the API's send.
    assert_eq!(audit_rows(&w, "send").await, 1);
    let after = w.get(&mut jar, a.location()).await;
    assert!(after.body.contains("2 new ticket(s), 2 sent"), "{}", after.body);
    let outbox = section(&after.body, "id=\"outbox-rows\"");
    let county_ticket = ticket_of(&w, w.county).await;
    let message_id: String = sqlx::query("SELECT message_id FROM notify_outbox WHERE org_id = $1")
        .bind(w.county)
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(outbox.contains(&county_ticket) && outbox.contains("sent"), "{outbox}");
    assert!(outbox.contains(&html_escape(&message_id)), "the Message-ID {message_id}: {outbox}");
    // Now the county is within its interval: nothing more is due for it.
    assert!(!section(&after.body, "id=\"plan-due\"").contains("County of Example"));

    // Filters and pages of the outbox.
    let a = w.get(&mut jar, &format!("/notifications?status=sent&org={}", w.county)).await;
    let rows = section(&a.body, "id=\"outbox-rows\"");
    assert!(rows.contains("County of Example") && !rows.contains("Example Clinic"), "{rows}");
    let a = w.get(&mut jar, "/notifications?status=failed").await;
    assert!(section(&a.body, "id=\"outbox-rows\"").contains("No messages."));
    let a = w.get(&mut jar, "/notifications?per_page=1").await;
    assert!(a.body.contains("page 1 of 2 (2 in all)"), "{}", a.body);
    let a = w.get(&mut jar, "/notifications?per_page=1&page=2").await;
    assert!(a.body.contains("page 2 of 2 (2 in all)"));
    assert_eq!(w.get(&mut jar, "/notifications?status=bogus").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(w.get(&mut jar, "/notifications?org=x").await.status, StatusCode::BAD_REQUEST);

    // A ticket number finds its organisation, hosts and stored message summary.
    let a = w.get(&mut jar, &format!("/notifications?ticket={}", county_ticket.to_lowercase())).await;
    assert_eq!(a.location(), format!("/notifications/tickets/{county_ticket}"));
    let t = w.get(&mut jar, a.location()).await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(t.body.contains(&format!("<title>Ticket {county_ticket} · taskforce</title>")), "{}", t.body);
    assert!(t.body.contains("County of Example"));
    assert!(section(&t.body, "id=\"ticket-hosts\"").contains("192.0.2.10"));
    assert!(section(&t.body, "id=\"ticket-messages\"").contains("abuse@county.example"));
    assert!(!t.body.contains("198.51.100.7"), "nothing of another organisation");
    assert_eq!(w.get(&mut jar, "/notifications/tickets/TF-19990101-999999").await.status, StatusCode::NOT_FOUND);

    // Acknowledge: CSRF first, then the same function as the API (one audit row each time).
    let url = format!("/notifications/tickets/{county_ticket}/acknowledge");
    assert_eq!(w.post_form(&mut jar, &url, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(w.comm_state(w.county).await, "notified");
    let csrf = t.csrf();
    let a = w.post_form(&mut jar, &url, &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(w.comm_state(w.county).await, "acknowledged");
    assert_eq!(audit_rows(&w, "acknowledge").await, 1);
    let t = w.get(&mut jar, a.location()).await;
    assert!(t.body.contains("Saved: acknowledged") && !t.body.contains("id=\"ack-form\""), "{}", t.body);
    // Twice is refused (nothing to record) and not audited.
    assert_eq!(w.post_form(&mut jar, &url, &[("csrf", &csrf)]).await.status, StatusCode::CONFLICT);
    assert_eq!(audit_rows(&w, "acknowledge").await, 1);
    // The API sees the page's acknowledgement.
    let api = w.bearer("GET", &format!("/api/v1/notify/tickets/{county_ticket}"), &w.analyst, "", "text/plain").await;
    assert!(api.body.contains("\"status\":\"acknowledged\"") && api.body.contains("user:ana"), "{}", api.body);

    // The organisation's page lists its tickets and messages, not another's.
    let a = w.get(&mut jar, &format!("/organisations/{}", w.county)).await;
    let tickets = section(&a.body, "id=\"org-tickets\"");
    assert!(tickets.contains(&county_ticket) && tickets.contains("acknowledged"), "{tickets}");
    let messages = section(&a.body, "id=\"org-messages\"");
    assert!(messages.contains(&html_escape(&message_id)) && messages.contains("sent"), "{messages}");
    let clinic_ticket = ticket_of(&w, w.clinic).await;
    assert!(!a.body.contains(&clinic_ticket));
    let a = w.get(&mut jar, &format!("/organisations/{quiet}")).await;
    assert!(section(&a.body, "id=\"org-tickets\"").contains("No tickets."));
    // The overview lists the latest notifications.
    let a = w.get(&mut jar, "/").await;
    assert!(section(&a.body, "id=\"latest-notifications\"").contains(&clinic_ticket));
}
crate::on_both!(plan_send_outbox_tickets);

/// Bounces are listed with their reason; a send to an address the server refuses shows its
/// error in the outbox.
async fn bounces_and_errors(kind: &str) {
    let Some(w) = web(kind).await else { return };
    // No SMTP server: the messages are deferred with the connection error.
    taskforce_notify::outbox::record_bounce(
        &w.db,
        "old@county.example",
        "dsn:bounce-1.eml",
        "5.1.1 user unknown",
        "2021-03-06T00:00:00Z",
    )
    .await
    .unwrap();
    let mut jar = w.login_as("ana", Role::Analyst, None).await;
    let csrf = w.get(&mut jar, "/notifications").await.csrf();
    let a = w.post_form(&mut jar, "/notifications/send", &[("csrf", &csrf), ("limit", "1")]).await;
    assert!(a.location().contains("enqueued=1&sent=0&deferred=1"), "{}", a.location());
    let a = w.get(&mut jar, "/notifications?status=deferred").await;
    let rows = section(&a.body, "id=\"outbox-rows\"");
    assert!(rows.contains("deferred") && rows.contains("<td>1</td>"), "attempts: {rows}");
    let error: String =
        sqlx::query("SELECT last_error FROM notify_outbox").fetch_one(&w.db.pool).await.unwrap().try_get(0).unwrap();
    assert!(!error.is_empty() && rows.contains(&html_escape(&error)), "the last error {error:?}: {rows}");
    let b = section(&a.body, "id=\"bounce-rows\"");
    assert!(b.contains("old@county.example") && b.contains("5.1.1 user unknown"), "{b}");
    let a = w.post_form(&mut jar, "/notifications/send", &[("csrf", &csrf), ("limit", "many")]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let _ = Jar::default();
}
crate::on_both!(bounces_and_errors);

/// The part of a page from `marker` to the end of its table.
fn section<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body.find(marker).unwrap_or_else(|| panic!("{marker} not on the page: {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

/// As the template engine writes text.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}
