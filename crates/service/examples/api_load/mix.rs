//! `api_load --mix`: a mixed load for a fixed time. `--clients` workers, each on its own
//! keep-alive connection, pick a route by weight for every request until `--duration` is over:
//! list pages (first, deep by cursor), details, dashboard counts, exports, small Shadowserver
//! feed uploads, hunt report uploads and analyst records (contacts, remediations). Uploads and
//! records name real hosts and organisations, read from the service's host list at the start.
//! Printed per route: requests, errors, requests per second, p50/p95/p99/max, then all reads and
//! all writes together; and, with `--server-pid`, the server's resident memory sampled every
//! `--rss-every` seconds (start, end, max, and the series).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};

use super::{Options, Rng, percentile_ms};

/// A request to send: method, path and query, body.
type Request = (hyper::Method, String, Option<String>);

/// A route of the mix: its label (the table's row), weight, and how a request is made (from the
/// worker's random numbers, the targets and a counter unique to the request).
struct Route {
    label: &'static str,
    weight: u32,
    make: fn(&mut Rng, &Targets, u64) -> Request,
}

/// Hosts (id, address, organisation) known to the service, read once at the start.
pub struct Targets {
    hosts: Vec<(u64, String, u64)>,
    max_org: u64,
}

fn pick<'a>(rng: &mut Rng, t: &'a Targets) -> &'a (u64, String, u64) {
    &t.hosts[(rng.id(t.hosts.len() as u64) - 1) as usize]
}

const SS_HEADER: &str = "\"timestamp\",\"ip\",\"port\",\"hostname\",\"tag\",\"asn\",\"geo\",\"region\",\"city\",\"naics\",\"sic\",\"sector\",\"version\",\"servername\",\"url\"\n";

/// A small feed file (5 rows about known hosts) on a day of its own: new facts, not duplicates.
fn feed(rng: &mut Rng, t: &Targets, n: u64) -> String {
    let day = jiff_day(n);
    let mut csv = String::from(SS_HEADER);
    for _ in 0..5 {
        let (_, ip, _) = pick(rng, t);
        let tag = if rng.id(10) == 1 { "exchange;webshell" } else { "exchange;cve-2021-26855" };
        csv.push_str(&format!(
            "\"{day} 03:00:00\",\"{ip}\",443,\"mail.example\",\"{tag}\",64496,\"US\",,,,,,\"\",\"LOAD\",\"\"\n"
        ));
    }
    csv
}

/// 2021-04-01 plus `n` days, cycling over about four years.
fn jiff_day(n: u64) -> String {
    let days = (n % 1400) as i64;
    let (mut y, mut m, mut d) = (2021i64, 4i64, 1i64);
    for _ in 0..days {
        let month_len = match m {
            2 if y % 4 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        d += 1;
        if d > month_len {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    format!("{y:04}-{m:02}-{d:02}")
}

/// A one-host hunt report (clean, patched) with evidence ending on its own day.
fn hunt(n: u64) -> String {
    let to = format!("{}T00:00:00Z", jiff_day(n));
    serde_json::json!({"schema": "taskforce.hunt.v1", "tool": {"name": "taskforce", "version": "0.1.0"},
        "generated_at": "2026-01-01T00:00:00Z", "skipped": [],
        "hosts": [{"name": "LOAD", "evidence": "x", "verdict": "clean", "reason": "load test",
            "exchange_build": "15.1.2176.9", "patch": [{"family": "ProxyLogon", "status": "fixed"}],
            "findings": [], "evidence_window": {"from": "2021-01-01T00:00:00Z", "to": to},
            "coverage": [{"source": "IIS", "files": 1, "first": "2021-01-01T00:00:00Z", "last": to}]}]})
    .to_string()
}

use hyper::Method;

const ROUTES: &[Route] = &[
    Route {
        label: "GET organisations (first page)",
        weight: 12,
        make: |_, _, _| (Method::GET, "/api/v1/organisations".into(), None),
    },
    Route {
        label: "GET organisations?cursor= (deep)",
        weight: 10,
        make: |r, t, _| (Method::GET, format!("/api/v1/organisations?cursor=-1.{}", r.id(t.max_org)), None),
    },
    Route {
        label: "GET organisations/{id}",
        weight: 12,
        make: |r, t, _| (Method::GET, format!("/api/v1/organisations/{}", pick(r, t).2), None),
    },
    Route {
        label: "GET organisations/{id}/hosts",
        weight: 8,
        make: |r, t, _| (Method::GET, format!("/api/v1/organisations/{}/hosts", pick(r, t).2), None),
    },
    Route {
        label: "GET hosts?cursor= (deep)",
        weight: 6,
        make: |r, t, _| (Method::GET, format!("/api/v1/hosts?cursor=0.{}", pick(r, t).0), None),
    },
    Route {
        label: "GET hosts/{id}",
        weight: 10,
        make: |r, t, _| (Method::GET, format!("/api/v1/hosts/{}", pick(r, t).0), None),
    },
    Route { label: "GET stats", weight: 5, make: |_, _, _| (Method::GET, "/api/v1/stats".into(), None) },
    Route {
        label: "GET organisations/{id}/export.csv",
        weight: 3,
        make: |r, t, _| (Method::GET, format!("/api/v1/organisations/{}/export.csv", pick(r, t).2), None),
    },
    Route {
        label: "POST ingest/shadowserver (5 rows)",
        weight: 3,
        make: |r, t, n| {
            (Method::POST, format!("/api/v1/ingest/shadowserver?file_name=load-{n}.csv"), Some(feed(r, t, n)))
        },
    },
    Route {
        label: "POST organisations/{id}/hunt-reports",
        weight: 3,
        make: |r, t, n| {
            let (_, ip, org) = pick(r, t);
            (
                Method::POST,
                format!("/api/v1/organisations/{org}/hunt-reports?ip={ip}&file_name=load-{n}.json"),
                Some(hunt(n)),
            )
        },
    },
    Route {
        label: "POST organisations/{id}/contacts",
        weight: 2,
        make: |r, t, n| {
            let org = pick(r, t).2;
            (
                Method::POST,
                format!("/api/v1/organisations/{org}/contacts"),
                Some(format!(r#"{{"email":"soc{n}@org{org}.example","role":"security"}}"#)),
            )
        },
    },
    Route {
        label: "POST hosts/{id}/remediation",
        weight: 2,
        make: |r, t, n| {
            (
                Method::POST,
                format!("/api/v1/hosts/{}/remediation", pick(r, t).0),
                Some(format!(r#"{{"note":"load {n}"}}"#)),
            )
        },
    },
];

type Conn = SendRequest<Full<Bytes>>;

async fn connect(o: &Options) -> Result<Conn, String> {
    let tcp = tokio::net::TcpStream::connect(o.addr).await.map_err(|e| format!("connecting to {}: {e}", o.addr))?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn send(
    conn: &mut Option<Conn>,
    o: &Options,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), String> {
    if let Some(s) = conn.as_mut()
        && s.ready().await.is_err()
    {
        *conn = None;
    }
    let sender = match conn {
        Some(s) => s,
        None => conn.insert(connect(o).await?),
    };
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, &o.host_header)
        .header(AUTHORIZATION, &o.auth)
        .header(USER_AGENT, "taskforce-api-load");
    if body.is_some() {
        req = req.header(CONTENT_TYPE, "application/json");
    }
    let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| format!("{path}: {e}"))?;
    let resp = sender.send_request(req).await.map_err(|e| format!("{method} {path}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.map_err(|e| format!("{method} {path}: body: {e}"))?.to_bytes();
    Ok((status, bytes))
}

/// Reads the hosts to aim at (first 1,000 of the host list) and the highest organisation id.
async fn targets(o: &Options) -> Result<Targets, String> {
    let mut conn = None;
    let (status, body) = send(&mut conn, o, Method::GET, "/api/v1/hosts?per_page=1000", None).await?;
    if status != 200 {
        return Err(format!("GET /api/v1/hosts: HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("host list: {e}"))?;
    let hosts: Vec<(u64, String, u64)> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h["id"].as_u64()?, h["ip"].as_str()?.to_string(), h["org_id"].as_u64()?)))
        .collect();
    if hosts.is_empty() {
        return Err("the service has no host with an organisation: ingest data first".into());
    }
    Ok(Targets { hosts, max_org: o.max_org })
}

#[derive(Default)]
struct RouteTally {
    latencies_us: Vec<u64>,
    /// Non-2xx answers plus exchanges that failed (no answer).
    errors: u64,
    failed: u64,
    statuses: BTreeMap<u16, u64>,
    first_error: Option<String>,
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Clone, Copy)]
pub struct MixOptions {
    pub clients: usize,
    pub duration: Duration,
    pub server_pid: Option<u32>,
    pub rss_every: Duration,
}

pub async fn run(o: Arc<Options>, m: MixOptions) -> Result<bool, String> {
    let t = Arc::new(targets(&o).await?);
    let counter = Arc::new(AtomicU64::new(o.seed.wrapping_mul(1_000_003) % 100_000));
    let weights: u32 = ROUTES.iter().map(|r| r.weight).sum();
    let started = Instant::now();
    let deadline = started + m.duration;
    // Memory sampler.
    let sampler = m.server_pid.map(|pid| {
        let every = m.rss_every;
        tokio::spawn(async move {
            let mut series = Vec::new();
            loop {
                if let Some(kb) = rss_kb(pid) {
                    series.push((started.elapsed().as_secs(), kb));
                }
                if Instant::now() >= deadline {
                    return series;
                }
                tokio::time::sleep(
                    every.min(deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(10)),
                )
                .await;
            }
        })
    });
    let workers: Vec<_> = (0..m.clients)
        .map(|w| {
            let (o, t, counter) = (o.clone(), t.clone(), counter.clone());
            tokio::spawn(async move {
                let mut rng = Rng(o.seed ^ (w as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
                let mut conn = None;
                let mut tallies: Vec<RouteTally> = ROUTES.iter().map(|_| RouteTally::default()).collect();
                while Instant::now() < deadline {
                    let mut roll = rng.id(weights as u64) as u32;
                    let i = ROUTES
                        .iter()
                        .position(|r| {
                            if roll <= r.weight {
                                true
                            } else {
                                roll -= r.weight;
                                false
                            }
                        })
                        .unwrap_or(0);
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let (method, path, body) = (ROUTES[i].make)(&mut rng, &t, n);
                    let begun = Instant::now();
                    let result = tokio::time::timeout(o.timeout, send(&mut conn, &o, method, &path, body)).await;
                    let tally = &mut tallies[i];
                    match result {
                        Ok(Ok((status, body))) => {
                            tally.latencies_us.push(begun.elapsed().as_micros() as u64);
                            *tally.statuses.entry(status).or_default() += 1;
                            if !(200..300).contains(&status) {
                                tally.errors += 1;
                                tally.first_error.get_or_insert_with(|| {
                                    format!(
                                        "{path}: HTTP {status}: {}",
                                        String::from_utf8_lossy(&body[..body.len().min(300)])
                                    )
                                });
                            }
                        }
                        Ok(Err(e)) => {
                            conn = None;
                            tally.errors += 1;
                            tally.failed += 1;
                            tally.first_error.get_or_insert(e);
                        }
                        Err(_) => {
                            conn = None;
                            tally.errors += 1;
                            tally.failed += 1;
                            tally
                                .first_error
                                .get_or_insert_with(|| format!("{path}: no answer within {:?}", o.timeout));
                        }
                    }
                }
                tallies
            })
        })
        .collect();
    let mut total: Vec<RouteTally> = ROUTES.iter().map(|_| RouteTally::default()).collect();
    for w in workers {
        for (into, from) in total.iter_mut().zip(w.await.map_err(|e| format!("worker: {e}"))?) {
            into.latencies_us.extend(from.latencies_us);
            into.errors += from.errors;
            into.failed += from.failed;
            for (s, n) in from.statuses {
                *into.statuses.entry(s).or_default() += n;
            }
            if into.first_error.is_none() {
                into.first_error = from.first_error;
            }
        }
    }
    let elapsed = started.elapsed();
    let width = ROUTES.iter().map(|r| r.label.len()).max().unwrap_or(5);
    println!(
        "{:width$} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "route", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let (mut all_requests, mut all_errors) = (0u64, 0u64);
    let mut notes = Vec::new();
    for (route, tally) in ROUTES.iter().zip(total.iter_mut()) {
        tally.latencies_us.sort_unstable();
        let lat = &tally.latencies_us;
        let requests = lat.len() as u64 + tally.failed;
        all_requests += requests;
        all_errors += tally.errors;
        println!(
            "{:width$} {:>8} {:>7} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
            route.label,
            requests,
            tally.errors,
            requests as f64 / elapsed.as_secs_f64(),
            percentile_ms(lat, 0.50),
            percentile_ms(lat, 0.95),
            percentile_ms(lat, 0.99),
            lat.last().map_or(f64::NAN, |v| *v as f64 / 1000.0)
        );
        if let Some(e) = &tally.first_error {
            notes.push(format!("{}: {} error(s), first: {e}", route.label, tally.errors));
        }
    }
    println!(
        "({} clients for {:.0} s: {all_requests} requests, {all_errors} errors, {:.1} req/s; latency = request sent to last body byte)",
        m.clients,
        elapsed.as_secs_f64(),
        all_requests as f64 / elapsed.as_secs_f64()
    );
    // All reads and all writes together.
    for (name, method) in [("all reads (GET)", "GET "), ("all writes (POST)", "POST ")] {
        let mut lat: Vec<u64> = ROUTES
            .iter()
            .zip(total.iter())
            .filter(|(r, _)| r.label.starts_with(method))
            .flat_map(|(_, t)| t.latencies_us.iter().copied())
            .collect();
        lat.sort_unstable();
        println!(
            "{:width$} {:>8} {:>7} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2}",
            name,
            lat.len(),
            "",
            lat.len() as f64 / elapsed.as_secs_f64(),
            percentile_ms(&lat, 0.50),
            percentile_ms(&lat, 0.95),
            percentile_ms(&lat, 0.99),
            lat.last().map_or(f64::NAN, |v| *v as f64 / 1000.0)
        );
    }
    for n in &notes {
        println!("  {n}");
    }
    if let Some(sampler) = sampler {
        let series = sampler.await.map_err(|e| format!("sampler: {e}"))?;
        if let (Some(first), Some(last)) = (series.first(), series.last()) {
            let max = series.iter().map(|s| s.1).max().unwrap_or(0);
            println!(
                "server RSS: start {} MB, end {} MB, max {} MB ({} samples)",
                first.1 / 1024,
                last.1 / 1024,
                max / 1024,
                series.len()
            );
            let text: Vec<String> = series.iter().map(|(s, kb)| format!("{s}s:{}", kb / 1024)).collect();
            println!("server RSS series (MB): {}", text.join(" "));
        }
    }
    Ok(all_errors == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_forward() {
        assert_eq!(jiff_day(0), "2021-04-01");
        assert_eq!(jiff_day(30), "2021-05-01");
        assert_eq!(jiff_day(275), "2022-01-01");
        assert_eq!(jiff_day(1400), "2021-04-01");
    }

    #[test]
    fn weights_cover_every_route() {
        assert!(ROUTES.iter().all(|r| r.weight > 0));
        let labels: std::collections::BTreeSet<_> = ROUTES.iter().map(|r| r.label).collect();
        assert_eq!(labels.len(), ROUTES.len());
    }
}
