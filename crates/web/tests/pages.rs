//! The pages' rules on SQLite and PostgreSQL, without a browser (axum `oneshot`): login and
//! sessions, CSRF on every form, roles, the self-service link, escaping, security headers.

mod common;

use axum::http::StatusCode;
use common::{HOSTILE, Jar, hunt_report, web};
use taskforce_service::tokens::{self, Role};

fn assert_security_headers(a: &common::Answer, what: &str) {
    let h = |n: &str| a.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp:?}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
}

async fn anonymous_visitors_go_to_login(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut jar = Jar::default();
    for path in ["/", "/organisations", &format!("/organisations/{}", w.county), "/ingests", "/admin/users", "/portal"]
    {
        let a = w.get(&mut jar, path).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert!(a.location().starts_with("/login?next=%2F"), "{path}: {}", a.location());
        assert_security_headers(&a, path);
    }
    // A POST without a session is not performed either.
    let a =
        w.post_form(&mut jar, &format!("/organisations/{}/communication", w.county), &[("state", "notified")]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(w.comm_state(w.county).await, "not_contacted");
    // Security headers on the login page, a static file and the JSON API too.
    for path in ["/login", "/static/style.css", "/health"] {
        let a = w.get(&mut jar, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_security_headers(&a, path);
    }
}
crate::on_both!(anonymous_visitors_go_to_login);

async fn login_sessions_and_logout(kind: &str) {
    let Some(w) = web(kind).await else { return };
    taskforce_web::users::create(&w.db, "ana", Role::Analyst, None, "a long enough passphrase").await.unwrap();
    // Too short a password, a reporter without an organisation: refused.
    assert!(taskforce_web::users::create(&w.db, "x", Role::Analyst, None, "short").await.is_err());
    assert!(taskforce_web::users::create(&w.db, "y", Role::Reporter, None, "a long enough passphrase").await.is_err());
    let stored: String = {
        use sqlx::Row;
        sqlx::query("SELECT password_hash FROM web_user WHERE name = 'ana'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    let mut jar = Jar::default();
    let form = w.get(&mut jar, "/login?next=/organisations").await;
    let csrf = form.csrf();
    // The login form is CSRF-protected too (double-submit cookie).
    let mut bare = Jar::default();
    let a = w
        .post_form(&mut bare, "/login", &[("csrf", &csrf), ("name", "ana"), ("password", "a long enough passphrase")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a =
        w.post_form(&mut jar, "/login", &[("csrf", &csrf), ("name", "ana"), ("password", "wrong password!!")]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("Unknown name or wrong password"));
    let csrf = a.csrf();
    let a = w
        .post_form(
            &mut jar,
            "/login",
            &[("csrf", &csrf), ("name", "ana"), ("password", "a long enough passphrase"), ("next", "/organisations")],
        )
        .await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/organisations"));
    let cookie = a.set_cookies().into_iter().find(|c| c.starts_with("tf_session=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: {cookie}");
    // Only the hash of the session id is stored.
    let secret = cookie.split(';').next().unwrap().trim_start_matches("tf_session=").to_string();
    assert_eq!(w.scalar("SELECT COUNT(*) FROM web_session").await, 1);
    let raw: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) FROM web_session WHERE id_sha256 = $1")
            .bind(secret.clone())
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(raw, 0);
    let page = w.get(&mut jar, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<title>Overview · taskforce</title>"));
    // An open redirect through ?next= is refused.
    let mut j2 = Jar::default();
    let f = w.get(&mut j2, "/login").await;
    let a = w
        .post_form(
            &mut j2,
            "/login",
            &[
                ("csrf", &f.csrf()),
                ("name", "ana"),
                ("password", "a long enough passphrase"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/");
    // Logout needs the CSRF token, then the session is gone.
    let a = w.post_form(&mut jar, "/logout", &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let csrf = w.get(&mut jar, "/").await.csrf();
    let a = w.post_form(&mut jar, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/login"));
    let replay = format!("tf_session={secret}");
    let a = w
        .send(axum::http::Request::builder().uri("/").header("cookie", replay).body(axum::body::Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "a logged-out session id must not work again");
    // Behind TLS (the proxy says so) the cookie is Secure.
    let mut j3 = Jar::default();
    let f = w.get(&mut j3, "/login").await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("tf_login={}", f.csrf()))
        .body(axum::body::Body::from(format!("csrf={}&name=ana&password=a+long+enough+passphrase", f.csrf())))
        .unwrap();
    let a = w.send(req).await;
    assert!(a.set_cookies().iter().any(|c| c.starts_with("tf_session=") && c.contains("; Secure")));
    // A disabled user's sessions end.
    let mut jar = w.login("ana", "a long enough passphrase").await;
    assert_eq!(w.get(&mut jar, "/").await.status, StatusCode::OK);
    let id = w.scalar("SELECT id FROM web_user WHERE name = 'ana'").await;
    assert!(taskforce_web::users::disable(&w.db, id).await.unwrap());
    assert_eq!(w.get(&mut jar, "/").await.status, StatusCode::SEE_OTHER);
}
crate::on_both!(login_sessions_and_logout);

async fn every_form_checks_csrf(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut jar = w.login_as("admin1", Role::Admin, None).await;
    let page = w.get(&mut jar, &format!("/organisations/{}", w.county)).await;
    let csrf = page.csrf();
    let host = w.scalar("SELECT id FROM host WHERE ip = '192.0.2.10'").await;
    let audit_before = w.scalar("SELECT COUNT(*) FROM audit_log").await;
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/organisations/{}/communication", w.county), vec![("state", "notified"), ("note", "x")]),
        (format!("/organisations/{}/contacts", w.county), vec![("email", "soc@county.example"), ("role", "security")]),
        (format!("/hosts/{host}/remediation"), vec![("note", "rebuilt")]),
        ("/admin/tokens".to_string(), vec![("name", "t1"), ("role", "analyst")]),
        ("/admin/users".to_string(), vec![("name", "u1"), ("role", "analyst"), ("password", "long enough password")]),
        ("/admin/tokens/1/revoke".to_string(), vec![]),
        ("/logout".to_string(), vec![]),
    ];
    for (path, fields) in &forms {
        for bad in [None, Some("forged")] {
            let mut f = fields.clone();
            if let Some(b) = bad {
                f.push(("csrf", b));
            }
            let a = w.post_form(&mut jar, path, &f).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} with csrf {bad:?}");
            assert!(a.body.contains("CSRF"), "{path}: {}", a.body);
        }
    }
    // Multipart forms too.
    let a = w.post_multipart(&mut jar, "/ingests", &[("kind", "hunt")], ("r.json", "{}")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(w.scalar("SELECT COUNT(*) FROM audit_log").await, audit_before, "nothing was written");
    assert_eq!(w.comm_state(w.county).await, "not_contacted");
    // With the token each goes through, in the API's audit log.
    let a = w
        .post_form(
            &mut jar,
            &format!("/organisations/{}/communication", w.county),
            &[("csrf", &csrf), ("state", "notified"), ("note", "letter 1 sent")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(w.comm_state(w.county).await, "notified");
    let page = w.get(&mut jar, &format!("/organisations/{}", w.county)).await;
    assert!(page.body.contains("letter 1 sent"), "the step is in the timeline");
    let actor: String = {
        use sqlx::Row;
        sqlx::query("SELECT actor FROM audit_log WHERE action = 'communication'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(actor, "admin:user:admin1");
    // An illegal step is refused with the state model's reason.
    let a = w
        .post_form(
            &mut jar,
            &format!("/organisations/{}/communication", w.county),
            &[("csrf", &csrf), ("state", "not_contacted")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = w
        .post_form(
            &mut jar,
            &format!("/hosts/{host}/remediation"),
            &[("csrf", &csrf), ("note", "rebuilt, passwords reset")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let state: String = {
        use sqlx::Row;
        sqlx::query("SELECT tech_state FROM host WHERE id = $1")
            .bind(host)
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(state, "remediated");
    let a = w
        .post_form(
            &mut jar,
            &format!("/organisations/{}/contacts", w.county),
            &[("csrf", &csrf), ("email", "not-an-address")],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // The ingests page takes a file through the same path as the API, rows rejected by line.
    let feed = format!(
        "{}{}broken,row\n",
        common::SS_HEADER,
        common::ss_row("2021-03-07 00:00:00", "192.0.2.30", "exchange", "UP", "")
    );
    let a =
        w.post_multipart(&mut jar, "/ingests", &[("csrf", &csrf), ("kind", "shadowserver")], ("up.csv", &feed)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = w.get(&mut jar, a.location()).await;
    assert!(page.body.contains("up.csv") && page.body.contains("from user:admin1"), "{}", page.body);
    assert!(page.body.contains("<td>3</td>"), "the rejected row's line number: {}", page.body);
    let a = w
        .post_multipart(&mut jar, "/ingests", &[("csrf", &csrf), ("kind", "shadowserver")], ("junk.csv", "a,b\n1,2\n"))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("junk.csv") && a.body.contains("nothing was ingested"), "{}", a.body);
    // Tokens page: the secret is shown once.
    let a = w.post_form(&mut jar, "/admin/tokens", &[("csrf", &csrf), ("name", "script"), ("role", "analyst")]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("shown once") && a.body.contains("tf_"));
}
crate::on_both!(every_form_checks_csrf);

async fn roles_and_other_organisations(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut reporter = w.login_as("clinic-it", Role::Reporter, Some(w.clinic)).await;
    let county_host = w.scalar("SELECT id FROM host WHERE ip = '192.0.2.10'").await;
    let clinic_host = w.scalar("SELECT id FROM host WHERE ip = '198.51.100.7'").await;
    assert_eq!(w.get(&mut reporter, "/").await.location(), "/portal");
    assert_eq!(w.get(&mut reporter, &format!("/organisations/{}", w.clinic)).await.location(), "/portal");
    for path in [
        format!("/organisations/{}", w.county),
        format!("/organisations/{}/export.csv", w.county),
        format!("/hosts/{county_host}"),
        format!("/hosts/{}", county_host + 1000),
        "/organisations".into(),
        "/ingests".into(),
        "/admin/users".into(),
        "/admin/tokens".into(),
        "/notifications".into(),
    ] {
        let a = w.get(&mut reporter, &path).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "reporter on {path}");
        assert!(!a.body.contains("County of Example"), "{path} leaks the other organisation");
    }
    assert_eq!(w.get(&mut reporter, &format!("/hosts/{clinic_host}")).await.status, StatusCode::OK);
    assert_eq!(w.get(&mut reporter, &format!("/organisations/{}/export.csv", w.clinic)).await.status, StatusCode::OK);
    let portal = w.get(&mut reporter, "/portal").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("Example Clinic") && portal.body.contains("198.51.100.7"));
    assert!(!portal.body.contains("192.0.2.10"));
    // A reporter cannot record analysts' steps, even with its own CSRF token.
    let csrf = portal.csrf();
    let a = w
        .post_form(
            &mut reporter,
            &format!("/organisations/{}/communication", w.clinic),
            &[("csrf", &csrf), ("state", "notified")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // An analyst may not manage users or tokens.
    let mut analyst = w.login_as("ana", Role::Analyst, None).await;
    assert_eq!(w.get(&mut analyst, "/admin/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(w.get(&mut analyst, "/organisations").await.status, StatusCode::OK);
    assert_eq!(w.get(&mut analyst, "/organisations/999999").await.status, StatusCode::NOT_FOUND);
    // The API's bearer token opens the pages (no CSRF field needed: no cookie is involved).
    let a = w.bearer("GET", "/organisations?state=compromised", &w.analyst, "", "text/plain").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("County of Example") && !a.body.contains("Example Clinic"));
    let a = w
        .bearer(
            "POST",
            &format!("/organisations/{}/communication", w.clinic),
            &w.analyst,
            "state=unreachable",
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(w.comm_state(w.clinic).await, "unreachable");
    let a = w.bearer("GET", "/", "tf_unknown", "", "text/plain").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}
crate::on_both!(roles_and_other_organisations);

async fn self_service_link_and_upload(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let (token_id, token) = tokens::create(&w.db, "clinic-link", Role::Reporter, Some(w.clinic)).await.unwrap();
    let mut jar = Jar::default();
    let a = w.get(&mut jar, &format!("/portal?token={token}")).await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/portal"), "the token leaves the URL");
    let portal = w.get(&mut jar, "/portal").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("Example Clinic"));
    assert!(portal.body.contains("Install the current Exchange security update"));
    // Other tokens do not open the portal.
    let (_, analyst) = tokens::create(&w.db, "ana2", Role::Analyst, None).await.unwrap();
    for bad in [analyst.as_str(), "tf_nonsense"] {
        let a = w.get(&mut Jar::default(), &format!("/portal?token={bad}")).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{bad}");
    }
    // A report about another organisation's host is refused whole.
    let csrf = portal.csrf();
    let before = w.scalar("SELECT COUNT(*) FROM observation").await;
    let a = w
        .post_multipart(
            &mut jar,
            "/portal/hunt-report",
            &[("csrf", &csrf), ("ip", "192.0.2.10")],
            ("r.json", &hunt_report("EXCH01", "clean", "fixed")),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(w.scalar("SELECT COUNT(*) FROM observation").await, before);
    // A corrupt file: a clear message, nothing written.
    let a = w
        .post_multipart(
            &mut jar,
            "/portal/hunt-report",
            &[("csrf", &csrf), ("ip", "198.51.100.7")],
            ("r.json", "{\"schema\": \"taskforce.hunt.v1\", \"hosts\": [tru"),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("r.json"), "names the file: {}", a.body);
    // Its own host: taken, and the answer shows the new state and what is missing.
    let a = w
        .post_multipart(
            &mut jar,
            "/portal/hunt-report",
            &[("csrf", &csrf), ("ip", "198.51.100.7")],
            ("report.json", &hunt_report("CLINIC", "clean", "fixed")),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let result = w.get(&mut jar, a.location()).await;
    assert!(result.body.contains("Your report was received"), "{}", result.body);
    assert!(result.body.contains("is now <span class=\"state s-patched\">patched</span>"), "{}", result.body);
    assert!(result.body.contains("a probe showing a fixed build after the fix"));
    let uploader: String = {
        use sqlx::Row;
        sqlx::query("SELECT uploader FROM ingest WHERE kind = 'hunt'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(uploader, "token:clinic-link");
    // Revoking the token ends the session it opened.
    assert!(tokens::revoke(&w.db, token_id).await.unwrap());
    assert_eq!(w.get(&mut jar, "/portal").await.status, StatusCode::SEE_OTHER);
}
crate::on_both!(self_service_link_and_upload);

async fn hostile_strings_are_text(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut jar = w.login_as("ana", Role::Analyst, None).await;
    let host = w.scalar("SELECT id FROM host WHERE ip = '192.0.2.10'").await;
    for path in [format!("/organisations/{}", w.county), format!("/hosts/{host}")] {
        let a = w.get(&mut jar, &path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(!a.body.contains(HOSTILE), "{path} carries the raw markup");
        assert!(
            a.body.contains("&lt;script&gt;window.pwned=1&lt;&#x2f;script&gt;")
                || a.body.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
            "{path}: escaped text expected"
        );
    }
    // A hostile search term is echoed escaped too.
    let a = w.get(&mut jar, "/organisations?name=%22%3E%3Cimg%20src%3Dx%3E").await;
    assert!(!a.body.contains("\"><img src=x>"));
}
crate::on_both!(hostile_strings_are_text);

async fn overview_lists_and_pagination(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut jar = w.login_as("ana", Role::Analyst, None).await;
    let a = w.get(&mut jar, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    // The matrix links the county (compromised, not contacted) and the urgent list names it.
    assert!(a.body.contains("/organisations?state=compromised&amp;comm_state=not_contacted\">1</a>"), "{}", a.body);
    assert!(a.body.contains("<svg") && a.body.contains("<polyline class=\"line s-compromised\""));
    assert!(a.body.contains("2021-03-04-scan_exchange.csv"), "latest ingests");
    assert!(a.body.contains("<td>2021-03-04</td>") && !a.body.contains("<td>2021-03-06</td>"), "the trend's figures");
    // A new day of history shows at once (the kept daily summary follows every event).
    w.api_upload(
        "shadowserver",
        "d6.csv",
        format!("{}{}", common::SS_HEADER, common::ss_row("2021-03-06 00:00:00", "192.0.2.12", "exchange", "NEW", "")),
    )
    .await;
    let a = w.get(&mut jar, "/").await;
    assert!(a.body.contains("<td>2021-03-06</td>"), "the trend follows new events");
    // More organisations than a page: the pager keeps the filters.
    for i in 0..5 {
        sqlx::query("INSERT INTO organisation (name, managed, source, imported_at) VALUES ($1, 'manual', 'test', '2021-03-01T00:00:00Z')")
            .bind(format!("Filler {i}"))
            .execute(&w.db.pool)
            .await
            .unwrap();
    }
    let a = w.get(&mut jar, "/organisations?name=filler&per_page=2").await;
    assert!(a.body.contains("page 1 of 3 (5 in all)"), "{}", a.body);
    assert!(link(&a.body, "prev").is_none() && link(&a.body, "first").is_none(), "the first page has no way back");
    // The links seek by key (deep pages cost what the first does) and keep the filters; a
    // page number still works when asked for.
    let next = link(&a.body, "next").expect("a next link");
    assert!(next.starts_with("/organisations?name=filler&per_page=2&cursor="), "{next}");
    assert_eq!(link(&a.body, "last").as_deref(), Some("/organisations?name=filler&per_page=2&before=end"));
    let a = w.get(&mut jar, "/organisations?name=filler&per_page=2&page=3").await;
    assert!(a.body.contains("Filler 4") && !a.body.contains("Filler 0"));
    // Forward by the next links, then back by the previous links: every organisation once, in
    // the list's order, the same pages both ways.
    let names = |body: &str| -> Vec<String> {
        (0..5).map(|i| format!("Filler {i}")).filter(|n| body.contains(&format!(">{n}<"))).collect()
    };
    let mut forward = Vec::new();
    let mut url = "/organisations?name=filler&per_page=2".to_string();
    loop {
        let a = w.get(&mut jar, &url).await;
        assert_eq!(a.status, StatusCode::OK, "{url}");
        forward.push(names(&a.body));
        match link(&a.body, "next") {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(forward, vec![vec!["Filler 0", "Filler 1"], vec!["Filler 2", "Filler 3"], vec!["Filler 4"]]);
    let a = w.get(&mut jar, &url).await;
    assert!(a.body.contains("5 in all") && !a.body.contains("page 0"), "no page number on a page by cursor");
    assert!(link(&a.body, "last").is_none(), "the last page has no last link");
    let mut backward = vec![names(&a.body)];
    let mut here = a;
    while let Some(p) = link(&here.body, "prev") {
        here = w.get(&mut jar, &p).await;
        backward.push(names(&here.body));
    }
    backward.reverse();
    assert_eq!(backward, forward, "previous links give the same pages");
    // The last page by key: the list's end, a full page.
    let a = w.get(&mut jar, "/organisations?name=filler&per_page=2&before=end").await;
    assert_eq!(names(&a.body), vec!["Filler 3", "Filler 4"]);
    assert!(link(&a.body, "next").is_none() && link(&a.body, "prev").is_some());
    let a = w.get(&mut jar, "/organisations?cursor=x.y").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "an unreadable cursor is refused");
    let a = w.get(&mut jar, "/organisations?state=nonsense").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Ingests: the list, one ingest's rejected rows with their line numbers.
    w.api_upload(
        "shadowserver",
        "bad.csv",
        format!(
            "{}{}not,a,row\n",
            common::SS_HEADER,
            common::ss_row("2021-03-05 00:00:00", "192.0.2.11", "exchange", "X", "")
        ),
    )
    .await;
    let id = w.scalar("SELECT MAX(id) FROM ingest").await;
    let a = w.get(&mut jar, &format!("/ingests/{id}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<td>3</td>"), "the rejected row's line: {}", a.body);
    let a = w.get(&mut jar, "/ingests").await;
    assert!(a.body.contains("bad.csv"));
    // The ingest list pages by key too: newest first, forward and back.
    let a = w.get(&mut jar, "/ingests?per_page=1").await;
    assert!(a.body.contains("bad.csv"), "newest first");
    let next = link(&a.body, "next").expect("more than one ingest");
    assert!(next.starts_with("/ingests?per_page=1&cursor=0."), "{next}");
    let b = w.get(&mut jar, &next).await;
    assert!(!b.body.contains("bad.csv") && b.body.contains("d6.csv"), "the next older ingest");
    let back = w.get(&mut jar, &link(&b.body, "prev").expect("a way back")).await;
    assert!(back.body.contains("bad.csv") && link(&back.body, "prev").is_none(), "back on the first page");
    let last = w.get(&mut jar, "/ingests?per_page=1&before=end").await;
    assert!(link(&last.body, "next").is_none() && link(&last.body, "prev").is_some(), "the oldest ingest");
}
crate::on_both!(overview_lists_and_pagination);

/// The target of a pager link (`rel="next"`, `rel="prev"`, or the `first`/`last` links by their
/// text), unescaped.
fn link(body: &str, which: &str) -> Option<String> {
    let nav = &body[body.find("<nav class=\"pager\"")?..];
    let nav = &nav[..nav.find("</nav>")?];
    let text = match which {
        "first" => "« first",
        "last" => "last »",
        "prev" => "‹ previous",
        _ => "next ›",
    };
    let end = nav.find(&format!(">{text}</a>"))?;
    let start = nav[..end].rfind("href=\"")? + 6;
    let href = &nav[start..end];
    let href = &href[..href.find('"')?];
    Some(href.replace("&#x2f;", "/").replace("&amp;", "&").replace("&#x3d;", "="))
}

/// Failed logins are throttled per account and per client address (HTTP 429 with a clear
/// message and Retry-After), audited, and a refused attempt is not let in even with the right
/// password.
async fn login_throttling(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let password = "a long enough passphrase";
    for name in ["ana", "bob", "carol", "dave"] {
        taskforce_web::users::create(&w.db, name, Role::Analyst, None, password).await.unwrap();
    }
    let attempt = |name: &'static str, pw: &'static str, from: &'static str| {
        let w = &w;
        async move {
            let mut jar = Jar::default();
            let csrf = w.get(&mut jar, "/login").await.csrf();
            let fields = [("csrf", csrf.as_str()), ("name", name), ("password", pw), ("next", "/")];
            w.post_form_from(&mut jar, "/login", &fields, Some(from.parse().unwrap())).await
        }
    };
    // Per address: five failures from one address, whatever the account...
    for name in ["ana", "bob", "ana", "bob", "ana"] {
        let a = attempt(name, "wrong", "192.0.2.50:40000").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(a.body.contains("Unknown name or wrong password."));
    }
    // ...and the next attempt from there is refused, even for another account with its password.
    let a = attempt("carol", password, "192.0.2.50:40001").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(a.body.contains("Too many failed logins from your address"), "{}", a.body);
    let retry: u64 = a.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    assert!(a.set_cookies().iter().all(|c| !c.starts_with("tf_session=")), "no session");
    // Another address is not affected.
    assert_eq!(attempt("carol", password, "192.0.2.51:40000").await.status, StatusCode::SEE_OTHER);
    // Per account: failures from five addresses lock the account for every address.
    for i in 0..5 {
        let from: &'static str = Box::leak(format!("198.51.100.{}:1234", 60 + i).into_boxed_str());
        assert_eq!(attempt("dave", "wrong", from).await.status, StatusCode::UNAUTHORIZED);
    }
    let a = attempt("dave", password, "203.0.113.77:1234").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.body.contains("Too many failed logins for this account"), "{}", a.body);
    // A fresh address, a fresh account: fine.
    assert_eq!(attempt("ana", password, "203.0.113.78:1234").await.status, StatusCode::SEE_OTHER);
    // Every failure is in the audit log with the client's address.
    let failed = w.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed'").await;
    assert_eq!(failed, 10);
    let locked = w
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed' AND after_json LIKE '%\"locked\":true%'")
        .await;
    assert_eq!(locked, 2, "the address's fifth failure and the account's fifth");
    let from_addr = w
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login_failed' AND actor = 'anonymous@192.0.2.50' AND object_id = 'ana'")
        .await;
    assert_eq!(from_addr, 3);
}
crate::on_both!(login_throttling);

/// `?at=YYYY-MM-DD` on the overview and an organisation's page: the states as the history knew
/// them at the end of that day; a date that is not one is refused.
async fn past_date_views(kind: &str) {
    let Some(w) = web(kind).await else { return };
    let mut jar = w.login_as("ana", Role::Analyst, None).await;
    // The county's host was seen compromised on 2021-03-03, the clinic's vulnerable on 03-04.
    let a = w.get(&mut jar, "/?at=2021-03-03").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("As known on 2021-03-03"), "{}", a.body);
    assert!(a.body.contains("value=\"2021-03-03\""), "the date field keeps the date");
    let counts = past_section(&a.body);
    assert!(counts.contains("compromised</span></th><td>1</td><td>1</td>"), "{counts}");
    assert!(counts.contains("vulnerable</span></th><td>0</td><td>0</td>"), "{counts}");
    let a = w.get(&mut jar, "/?at=2021-03-04").await;
    assert!(past_section(&a.body).contains("vulnerable</span></th><td>1</td><td>1</td>"));
    let a = w.get(&mut jar, "/?at=2021-03-02").await;
    assert!(past_section(&a.body).contains("compromised</span></th><td>0</td><td>0</td>"));
    // Today's view has no past section.
    assert!(!w.get(&mut jar, "/").await.body.contains("As known on"));

    // The organisation's page: a step recorded today is not in the past state.
    let csrf = w.get(&mut jar, &format!("/organisations/{}", w.county)).await.csrf();
    let path = format!("/organisations/{}/communication", w.county);
    w.post_form(&mut jar, &path, &[("csrf", &csrf), ("state", "notified"), ("note", "letter")]).await;
    let a = w.get(&mut jar, &format!("/organisations/{}?at=2021-03-03", w.county)).await;
    assert_eq!(a.status, StatusCode::OK);
    let past = past_section(&a.body);
    assert!(past.contains("compromised") && past.contains("not contacted"), "{past}");
    assert!(a.body.contains("State on 2021-03-03"));
    let a = w.get(&mut jar, &format!("/organisations/{}?at=2021-03-02", w.county)).await;
    assert!(a.body.contains("not known yet"), "the host was not seen yet");
    assert!(past_section(&a.body).contains("none known yet"));
    let a = w.get(&mut jar, &format!("/organisations/{}", w.county)).await;
    assert!(!a.body.contains("As known on") && a.body.contains("notified"));
    for bad in ["2021-13-01", "yesterday", "2021-03-03T10:00:00Z"] {
        assert_eq!(w.get(&mut jar, &format!("/?at={bad}")).await.status, StatusCode::BAD_REQUEST, "{bad}");
        let a = w.get(&mut jar, &format!("/organisations/{}?at={bad}", w.county)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}
crate::on_both!(past_date_views);

fn past_section(body: &str) -> &str {
    let start = body.find("id=\"past\"").unwrap_or_else(|| panic!("no past section: {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</section>").unwrap()]
}
