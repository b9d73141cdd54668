//! Load generator for the tracking service's HTTP API (`taskforce serve`). Not a test: it prints
//! figures. Loopback only: a URL whose host is not 127.0.0.1, localhost or ::1 is refused.
//!
//! ```text
//! cargo run --release -p taskforce-service --example api_load -- \
//!     --url http://127.0.0.1:18080 --token-file token.txt --max-org 100000 \
//!     --path /api/v1/organisations --path '/api/v1/organisations/{org}' \
//!     --requests 2000 --concurrency 8
//! ```
//!
//! Each path is run on its own: `--requests` GETs over `--concurrency` keep-alive HTTP/1.1
//! connections (one per worker, reopened only if the server closes it). `{org}` in a path is
//! replaced per request by a random organisation id in 1..=--max-org, `{host}` by a host id in
//! 1..=--max-host. Latency is from sending the request to the last byte of the body. Printed per
//! path: requests, errors (non-2xx answers plus failed exchanges), connections opened,
//! throughput and the p50/p95/p99/max latency.
//!
//! Options:
//!   --url URL            http://127.0.0.1:PORT (also localhost, [::1])
//!   --token TOKEN        bearer token; or --token-file FILE, or TASKFORCE_TOKEN in the environment
//!   --path PATH          repeatable; or --paths-file FILE (one path a line, # comments)
//!   --requests N         per path [default 1000]
//!   --concurrency C      [default 8]
//!   --warmup N           unmeasured requests per path first [default 0]
//!   --max-org N          for {org} [default 1]
//!   --max-host N         for {host} [default 1]
//!   --seed N             for the random ids [default 1]
//!   --timeout SECS       per request [default 30]
//!
//! Mixed load (`--mix standard`, instead of --path): `--clients` workers for `--duration`
//! seconds, each request a route picked by weight among reads, uploads and analyst records;
//! a table per route, and the server's memory over time with `--server-pid` (see mix.rs).
//!   --mix standard       the mix of api_load/mix.rs
//!   --clients N          [default 200]
//!   --duration SECS      [default 60]
//!   --server-pid PID     sample /proc/PID/status VmRSS
//!   --rss-every SECS     [default 10]
//!   exit status 1 when any request of the mix failed

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[path = "api_load/mix.rs"]
mod mix;

const USAGE: &str = "usage: api_load --url http://127.0.0.1:PORT (--token TOKEN | --token-file FILE) \
(--path PATH ... | --paths-file FILE | --mix standard [--clients N] [--duration SECS] [--server-pid PID] \
[--rss-every SECS]) [--requests N] [--concurrency C] [--warmup N] [--max-org N] [--max-host N] [--seed N] \
[--timeout SECS]";

struct Options {
    addr: SocketAddr,
    host_header: String,
    auth: String,
    paths: Vec<String>,
    requests: usize,
    concurrency: usize,
    warmup: usize,
    max_org: u64,
    max_host: u64,
    seed: u64,
    timeout: Duration,
    /// `--mix standard`: the mixed load instead of the paths.
    mix: Option<mix::MixOptions>,
}

/// `http://HOST[:PORT][/]` with HOST one of the loopback names; anything else is refused.
fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs (the service on this machine) are supported"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(format!("{url:?}: give the server only (http://127.0.0.1:PORT); paths go in --path"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("{url:?}: unclosed ["))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let ip: IpAddr = match host.to_ascii_lowercase().as_str() {
        "127.0.0.1" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "::1" => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => return Err(format!("{url:?}: refusing a host other than 127.0.0.1, localhost or ::1")),
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
    };
    Ok((SocketAddr::new(ip, port), authority.to_string()))
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut token, mut paths) = (None, std::env::var("TASKFORCE_TOKEN").ok(), Vec::new());
    let (mut requests, mut concurrency, mut warmup, mut max_org, mut max_host, mut seed, mut timeout) =
        (1000usize, 8usize, 0usize, 1u64, 1u64, 1u64, 30f64);
    let (mut mix, mut clients, mut duration, mut server_pid, mut rss_every) = (None, 200usize, 60f64, None, 10f64);
    fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
        v.parse().map_err(|_| format!("{flag}: not a number: {v:?}"))
    }
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--token" => token = Some(value),
            "--token-file" => {
                let text = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                token = Some(text.trim().to_string());
            }
            "--path" => paths.push(value),
            "--paths-file" => {
                let text = std::fs::read_to_string(&value).map_err(|e| format!("{value}: {e}"))?;
                paths.extend(
                    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string),
                );
            }
            "--requests" => requests = num(&flag, value)?,
            "--concurrency" => concurrency = num(&flag, value)?,
            "--warmup" => warmup = num(&flag, value)?,
            "--max-org" => max_org = num(&flag, value)?,
            "--max-host" => max_host = num(&flag, value)?,
            "--seed" => seed = num(&flag, value)?,
            "--timeout" => timeout = num(&flag, value)?,
            "--mix" if value == "standard" => mix = Some(value),
            "--mix" => return Err(format!("--mix: the only mix is \"standard\", not {value:?}")),
            "--clients" => clients = num(&flag, value)?,
            "--duration" => duration = num(&flag, value)?,
            "--server-pid" => server_pid = Some(num(&flag, value)?),
            "--rss-every" => rss_every = num(&flag, value)?,
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    let url = url.ok_or_else(|| format!("--url is required\n{USAGE}"))?;
    let (addr, host_header) = parse_url(&url)?;
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| format!("a token is required\n{USAGE}"))?;
    if paths.is_empty() && mix.is_none() {
        return Err(format!("no --path given\n{USAGE}"));
    }
    if mix.is_some() && (clients == 0 || duration.is_nan() || duration <= 0.0 || rss_every.is_nan() || rss_every <= 0.0)
    {
        return Err("--clients, --duration and --rss-every must be positive".into());
    }
    if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
        return Err(format!("{p:?}: a path starts with /"));
    }
    if requests == 0 || concurrency == 0 || max_org == 0 || max_host == 0 || timeout.is_nan() || timeout <= 0.0 {
        return Err("--requests, --concurrency, --max-org, --max-host and --timeout must be positive".into());
    }
    Ok(Options {
        addr,
        host_header,
        auth: format!("Bearer {token}"),
        paths,
        requests,
        concurrency: concurrency.min(requests),
        warmup,
        max_org,
        max_host,
        seed,
        timeout: Duration::from_secs_f64(timeout),
        mix: mix.map(|_| mix::MixOptions {
            clients,
            duration: Duration::from_secs_f64(duration),
            server_pid,
            rss_every: Duration::from_secs_f64(rss_every),
        }),
    })
}

/// SplitMix64: small, seedable, good enough to pick ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 1..=max
    fn id(&mut self, max: u64) -> u64 {
        ((self.next() as u128 * max as u128) >> 64) as u64 + 1
    }
}

fn expand(template: &str, rng: &mut Rng, o: &Options) -> String {
    let mut path = template.to_string();
    while let Some(at) = path.find("{org}") {
        path.replace_range(at..at + 5, &rng.id(o.max_org).to_string());
    }
    while let Some(at) = path.find("{host}") {
        path.replace_range(at..at + 6, &rng.id(o.max_host).to_string());
    }
    path
}

#[derive(Default)]
struct Tally {
    /// Latency of every completed exchange (any status), microseconds.
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    failed: u64,
    first_failure: Option<String>,
    connections: u64,
    body_bytes: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.connections += other.connections;
        self.body_bytes += other.body_bytes;
    }

    fn non_2xx(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum()
    }
}

type Conn = SendRequest<Empty<Bytes>>;

async fn connect(o: &Options) -> Result<Conn, String> {
    let tcp = TcpStream::connect(o.addr).await.map_err(|e| format!("connecting to {}: {e}", o.addr))?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One GET on the worker's connection (opened or reopened as needed): status and body size.
async fn exchange(conn: &mut Option<Conn>, tally: &mut Tally, o: &Options, path: &str) -> Result<(u16, usize), String> {
    if let Some(sender) = conn.as_mut()
        && sender.ready().await.is_err()
    {
        *conn = None;
    }
    let sender = match conn {
        Some(sender) => sender,
        None => {
            tally.connections += 1;
            conn.insert(connect(o).await?)
        }
    };
    let request = hyper::Request::get(path)
        .header(HOST, &o.host_header)
        .header(AUTHORIZATION, &o.auth)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, "taskforce-api-load")
        .body(Empty::new())
        .map_err(|e| format!("bad request {path:?}: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| format!("GET {path}: reading the body: {e}"))?;
    Ok((status, body.to_bytes().len()))
}

async fn worker(o: Arc<Options>, template: Arc<str>, next: Arc<AtomicUsize>, total: usize, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let mut conn = None;
    let mut tally = Tally::default();
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let path = expand(&template, &mut rng, &o);
        let started = Instant::now();
        let result = match tokio::time::timeout(o.timeout, exchange(&mut conn, &mut tally, &o, &path)).await {
            Ok(r) => r,
            Err(_) => Err(format!("GET {path}: no answer within {:?}", o.timeout)),
        };
        match result {
            Ok((status, bytes)) => {
                tally.latencies_us.push(started.elapsed().as_micros() as u64);
                *tally.statuses.entry(status).or_default() += 1;
                tally.body_bytes += bytes as u64;
            }
            Err(e) => {
                conn = None;
                tally.failed += 1;
                tally.first_failure.get_or_insert(e);
            }
        }
    }
    tally
}

/// Runs `total` requests of one path over `concurrency` workers.
async fn run(o: &Arc<Options>, template: &str, total: usize, seed: u64) -> (Tally, Duration) {
    let template: Arc<str> = Arc::from(template);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..o.concurrency.min(total.max(1)))
        .map(|w| {
            let seed = seed ^ (w as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
            tokio::spawn(worker(o.clone(), template.clone(), next.clone(), total, seed))
        })
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.expect("worker panicked"));
    }
    (tally, started.elapsed())
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("api_load: {e}");
            return ExitCode::from(2);
        }
    };
    // Fail early and clearly when nothing listens.
    if let Err(e) = connect(&o).await {
        eprintln!("api_load: {e}");
        return ExitCode::from(2);
    }
    if let Some(m) = o.mix {
        return match mix::run(o.clone(), m).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("api_load: {e}");
                ExitCode::from(2)
            }
        };
    }
    let width = o.paths.iter().map(|p| p.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$} {:>8} {:>7} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "path", "requests", "errors", "conns", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "avg KB"
    );
    let mut notes = Vec::new();
    for (i, template) in o.paths.iter().enumerate() {
        let seed = o.seed.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if o.warmup > 0 {
            run(&o, template, o.warmup, !seed).await;
        }
        let (mut tally, elapsed) = run(&o, template, o.requests, seed).await;
        tally.latencies_us.sort_unstable();
        let done = tally.latencies_us.len();
        let errors = tally.non_2xx() + tally.failed;
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
        let avg_kb = if done > 0 { tally.body_bytes as f64 / done as f64 / 1024.0 } else { 0.0 };
        let lat = &tally.latencies_us;
        println!(
            "{:width$} {:>8} {:>7} {:>6} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
            template,
            o.requests,
            errors,
            tally.connections,
            rate,
            percentile_ms(lat, 0.50),
            percentile_ms(lat, 0.95),
            percentile_ms(lat, 0.99),
            lat.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
            avg_kb,
        );
        if errors > 0 {
            let statuses: Vec<String> = tally
                .statuses
                .iter()
                .filter(|(s, _)| !(200..300).contains(*s))
                .map(|(s, n)| format!("{n} x {s}"))
                .collect();
            let mut note = format!("{template}: {errors} error(s)");
            if !statuses.is_empty() {
                note.push_str(&format!("; HTTP {}", statuses.join(", ")));
            }
            if tally.failed > 0 {
                note.push_str(&format!(
                    "; {} failed, first: {}",
                    tally.failed,
                    tally.first_failure.as_deref().unwrap_or("?")
                ));
            }
            notes.push(note);
        }
    }
    println!(
        "({} requests per path at concurrency {} on keep-alive connections; latency = request sent to last body byte)",
        o.requests, o.concurrency
    );
    for n in &notes {
        println!("  {n}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls() {
        assert_eq!(parse_url("http://127.0.0.1:8080").unwrap().0, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(parse_url("http://localhost:9/").unwrap().0, "127.0.0.1:9".parse().unwrap());
        assert_eq!(parse_url("http://[::1]:8080").unwrap().0, "[::1]:8080".parse().unwrap());
        for bad in [
            "http://10.0.0.1:80",
            "https://127.0.0.1:1",
            "http://127.0.0.2:80",
            "http://example.org",
            "http://127.0.0.1.nip.io:80",
            "http://u@127.0.0.1:80",
            "http://127.0.0.1:80/api",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_stay_in_range() {
        let mut rng = Rng(7);
        assert!((0..10_000).map(|_| rng.id(3)).all(|i| (1..=3).contains(&i)));
    }
}
