//! `generate_bulk`: a large corpus of busy HttpProxy and IIS logs for benchmarks. Each file is
//! rendered in 64 KiB chunks straight into a buffered file writer; two threads take files from
//! a shared queue. Output is deterministic for a seed (each file has its own random stream).
//! The sparse mix has a handful of attack lines; the dense one adds internet scanners' probes
//! (one line in ten), lines that hold rule literals and so take the hunt's slow path.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Summary;
use crate::ctx::{Ctx, Era};
use crate::model::{Build, Proto, Req};
use crate::out::write_to_dir;
use crate::plan::{self, ATTACKER_UA_EWS, ATTACKER_UA_PY};
use crate::render::{self, IisLayout, Site};
use crate::rng::Rng;
use crate::sample::roots;
use crate::time::{self, DAY, HOUR, at};
use crate::traffic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Proxy(Proto),
    Iis(Site),
}

/// Files are assigned round-robin in this order, so even a small corpus has both log types and
/// several protocol folders.
const ORDER: [Kind; 9] = [
    Kind::Proxy(Proto::Mapi),
    Kind::Iis(Site::Front),
    Kind::Proxy(Proto::Owa),
    Kind::Proxy(Proto::Ews),
    Kind::Proxy(Proto::Eas),
    Kind::Proxy(Proto::Autodiscover),
    Kind::Proxy(Proto::Ecp),
    Kind::Iis(Site::Back),
    Kind::Proxy(Proto::RpcHttp),
];

const MIN_FILE: u64 = 64 << 10;
const MAX_FILE: u64 = 256 << 20;
const ATTACKER: &str = "203.0.113.45";

/// How many lines of a bulk corpus hold rule literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMix {
    /// Ordinary traffic and a few attack lines: almost every line is skipped by the prefilter.
    Sparse,
    /// The same plus scanner probes on one line in ten (Nmap's `x.js` check, Nessus's
    /// `autodiscover.json?@test.com`, zgrab reading the export-tool manifest), from many addresses.
    Dense,
}

/// One line in this many is a scanner probe in the dense mix.
const DENSE_EVERY: u64 = 10;

struct Job {
    rel: String,
    kind: Kind,
    start: i64,
    span: i64,
    target: u64,
    /// The first file of a kind carries that kind's attack lines.
    plants: bool,
}

pub(crate) fn generate_bulk(out_dir: &Path, target_bytes: u64, seed: u64, mix: BulkMix) -> io::Result<Summary> {
    std::fs::create_dir_all(out_dir)?;
    let roots = roots(crate::Layout::ExchangeTree);
    let ctx = Ctx::new("EXCH01", Build::new(15, 1, 2176, 2), roots.exi_win, Era::Y2021, seed);
    let per_file = (target_bytes / 8).clamp(MIN_FILE, MAX_FILE);
    let nfiles = target_bytes.div_ceil(per_file).max(1) as usize;
    let base = at(2021, 3, 3, 0, 0, 0, 0);
    let jobs: Vec<Job> = (0..nfiles)
        .map(|i| {
            let kind = ORDER[i % ORDER.len()];
            let round = (i / ORDER.len()) as i64;
            match kind {
                Kind::Proxy(p) => {
                    let start = base + round * HOUR;
                    Job {
                        rel: format!(
                            "{}/Logging/HttpProxy/{}/HttpProxy_{}-1.LOG",
                            roots.exi,
                            p.folder(),
                            time::ymdh(start)
                        ),
                        kind,
                        start,
                        span: HOUR,
                        target: per_file,
                        plants: round == 0,
                    }
                }
                Kind::Iis(site) => {
                    let start = base + round * DAY;
                    Job {
                        rel: format!("{}/{}/u_ex{}.log", roots.iis, site.dir(), time::yymmdd(start)),
                        kind,
                        start,
                        span: DAY,
                        target: per_file,
                        plants: round == 0,
                    }
                }
            }
        })
        .collect();

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<io::Result<(u64, usize)>>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 2));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = write_job(out_dir, &ctx, job, seed, mix);
                    let failed = r.is_err();
                    results.lock().expect("no panics while locked").push(r);
                    if failed {
                        next.store(jobs.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    let mut total = Summary::default();
    for r in results.into_inner().expect("threads joined") {
        let (bytes, attacks) = r?;
        total.files += 1;
        total.bytes += bytes;
        total.attack_lines += attacks;
    }
    Ok(total)
}

fn write_job(root: &Path, ctx: &Ctx, job: &Job, seed: u64, mix: BulkMix) -> io::Result<(u64, usize)> {
    let mut rng = Rng::derive(seed, &job.rel);
    // Estimate the row length to spread the rows over the file's hour or day.
    let mut probe_rng = Rng::derive(seed, "probe");
    let mut buf = Vec::with_capacity(96 << 10);
    for _ in 0..256 {
        render_benign(&mut buf, ctx, job.kind, job.start, &mut probe_rng);
    }
    let avg = (buf.len() / 256).max(1) as u64;
    let est_lines = (job.target / avg).max(1);
    let interval = (job.span / est_lines as i64).max(1);
    buf.clear();

    let plants: Vec<Planted> = if job.plants { planted(job.kind) } else { Vec::new() };
    let positions: Vec<u64> =
        (0..plants.len() as u64).map(|k| est_lines * (k + 1) / (plants.len() as u64 + 1)).collect();

    let mut attacks = 0;
    let mut written = 0u64;
    let mtime = job.start + job.span - 1_000;
    let bytes = write_to_dir(root, &job.rel, mtime, &mut |w: &mut dyn Write| {
        match job.kind {
            Kind::Proxy(_) => {
                let bom = rng.chance(65);
                render::exchange_header(
                    &mut buf,
                    bom,
                    &ctx.build_padded,
                    "HttpProxy Logs",
                    job.start + 130,
                    render::PROXY_FIELDS,
                );
            }
            Kind::Iis(_) => render::iis_header(&mut buf, job.start + 2_000, IisLayout::Default),
        }
        let mut i = 0u64;
        let mut p = 0;
        let mut ts = job.start;
        while written + (buf.len() as u64) < job.target {
            ts = job.start + 2_000 + i as i64 * interval + rng.below(interval as u64) as i64;
            while p < plants.len() && positions[p] == i {
                render_plant(&mut buf, ctx, job.kind, &plants[p], ts, &mut rng);
                attacks += 1;
                p += 1;
            }
            if mix == BulkMix::Dense && rng.below(DENSE_EVERY) == 0 {
                render_scanner(&mut buf, ctx, job.kind, ts, &mut rng);
            } else {
                render_benign(&mut buf, ctx, job.kind, ts, &mut rng);
            }
            i += 1;
            if buf.len() >= 64 << 10 {
                w.write_all(&buf)?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        // A file that came out shorter than estimated still gets all its attack lines.
        while p < plants.len() {
            ts += 1;
            render_plant(&mut buf, ctx, job.kind, &plants[p], ts, &mut rng);
            attacks += 1;
            p += 1;
        }
        w.write_all(&buf)?;
        written += buf.len() as u64;
        buf.clear();
        Ok(())
    })?;
    Ok((bytes, attacks))
}

fn render_benign(buf: &mut Vec<u8>, ctx: &Ctx, kind: Kind, ts: i64, rng: &mut Rng) {
    match kind {
        Kind::Proxy(proto) => {
            let r = traffic::benign(ctx, rng, proto, ts);
            render::proxy_row(buf, ctx, &r, rng);
        }
        Kind::Iis(Site::Front) => {
            let proto = traffic::pick_proto(rng);
            let r = traffic::benign(ctx, rng, proto, ts);
            render::iis_row(buf, ctx, &r, Site::Front, IisLayout::Default);
        }
        Kind::Iis(Site::Back) => {
            let r = traffic::backend(ctx, rng, ts);
            render::iis_row(buf, ctx, &r, Site::Back, IisLayout::Default);
        }
    }
}

/// A scanner's probe as the file's kind logs it: never an attack line (the rules that match it
/// are context, verdict none), but it holds rule literals, so the hunt parses and evaluates it.
fn render_scanner(buf: &mut Vec<u8>, ctx: &Ctx, kind: Kind, ts: i64, rng: &mut Rng) {
    let proto = match kind {
        Kind::Proxy(p) => p,
        Kind::Iis(_) => Proto::Owa,
    };
    let mut r = Req::new(ts, rng.guid(), proto);
    r.client_ip = SCANNERS[rng.below(SCANNERS.len() as u64) as usize].into();
    r.cafe = true;
    r.total_ms = rng.range32(2, 40);
    match rng.below(3) {
        0 => {
            r.stem = "/owa/auth/x.js".into();
            r.anchor = "ServerInfo~localhost/ecp/default.flt?".into();
            r.ua = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)".into();
            r.status = 500;
            r.backend_status = 500;
            r.target = "localhost".into();
        }
        1 => {
            r.stem = "/autodiscover/autodiscover.json".into();
            r.query = "@test.com/owa/?&Email=autodiscover/autodiscover.json%3F@test.com".into();
            r.ua = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)".into();
            r.status = 401;
            r.iis_substatus = 2;
            r.iis_win32 = 5;
        }
        _ => {
            r.stem = "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application".into();
            r.anchor = "ServerVersion~Version 15.0 (Build 0.0)".into();
            r.ua = "Mozilla/5.0 zgrab/0.x".into();
            r.routing_hint = "EDiscoveryExportTool-ServerVersion".into();
            r.status = 200;
            r.backend_status = 200;
            r.resp_bytes = 3_318;
        }
    }
    match kind {
        Kind::Proxy(_) => render::proxy_row(buf, ctx, &r, rng),
        Kind::Iis(site) => render::iis_row(buf, ctx, &r, site, IisLayout::Default),
    }
}

/// Documentation addresses (RFC 5737) standing in for internet scanners.
const SCANNERS: [&str; 6] =
    ["192.0.2.10", "192.0.2.33", "198.51.100.7", "198.51.100.200", "203.0.113.9", "203.0.113.77"];

/// The attack lines of the corpus: one ProxyLogon run spread over the files.
#[derive(Debug, Clone, Copy)]
enum Planted {
    /// SSRF through `stem`, `AnchorMailbox` path `path`.
    Ssrf { proto: Proto, stem: &'static str, path: &'static str, status: u16, ua: &'static str },
    /// An IIS row (no HttpProxy involvement).
    Iis { method: &'static str, stem: &'static str, query: &'static str, ua: &'static str, backend: bool },
}

const RESET_QUERY: &str =
    "schema=ResetOABVirtualDirectory&msExchEcpCanary=Zk3pQ9vT1x8HcWm2bN5rL0aYdE7uFgJsKiOoPqRtUvW.";

fn planted(kind: Kind) -> Vec<Planted> {
    let ssrf = |proto, stem, path, status, ua| Planted::Ssrf { proto, stem, path, status, ua };
    match kind {
        Kind::Proxy(Proto::Autodiscover) => vec![ssrf(
            Proto::Autodiscover,
            "/autodiscover/autodiscover.xml",
            "autodiscover/autodiscover.xml?",
            200,
            ATTACKER_UA_PY,
        )],
        Kind::Proxy(Proto::Owa) => vec![
            ssrf(Proto::Owa, "/owa/auth/x.js", "mapi/emsmdb/?", 200, ATTACKER_UA_PY),
            ssrf(
                Proto::Owa,
                "/owa/auth/Current/themes/resources/logon.css",
                "ecp/proxyLogon.ecp?",
                241,
                ATTACKER_UA_PY,
            ),
        ],
        Kind::Proxy(Proto::Ecp) => vec![
            ssrf(Proto::Ecp, "/ecp/y.js", "ecp/proxyLogon.ecp?", 241, ATTACKER_UA_PY),
            ssrf(
                Proto::Ecp,
                "/ecp/y.js",
                "ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary=Zk3pQ9vT1x8HcWm2bN5rL0aYdE7uFgJsKiOoPqRtUvW.",
                200,
                ATTACKER_UA_EWS,
            ),
            ssrf(
                Proto::Ecp,
                "/ecp/y.js",
                "ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory&msExchEcpCanary=Zk3pQ9vT1x8HcWm2bN5rL0aYdE7uFgJsKiOoPqRtUvW.",
                200,
                ATTACKER_UA_EWS,
            ),
        ],
        Kind::Iis(Site::Front) => vec![
            Planted::Iis { method: "POST", stem: "/ecp/y.js", query: "", ua: ATTACKER_UA_EWS, backend: false },
            Planted::Iis {
                method: "POST",
                stem: "/aspnet_client/supp0rt.aspx",
                query: "",
                ua: "antSword/v2.1",
                backend: false,
            },
            Planted::Iis {
                method: "POST",
                stem: "/aspnet_client/supp0rt.aspx",
                query: "",
                ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36",
                backend: false,
            },
        ],
        Kind::Iis(Site::Back) => vec![Planted::Iis {
            method: "POST",
            stem: "/ecp/DDI/DDIService.svc/SetObject",
            query: RESET_QUERY,
            ua: ATTACKER_UA_EWS,
            backend: true,
        }],
        _ => Vec::new(),
    }
}

fn render_plant(buf: &mut Vec<u8>, ctx: &Ctx, kind: Kind, p: &Planted, ts: i64, rng: &mut Rng) {
    match (*p, kind) {
        (Planted::Ssrf { proto, stem, path, status, ua }, Kind::Proxy(_)) => {
            let mut r = plan::ssrf(ctx, rng, ts, ATTACKER, ua, path, status);
            r.proto = proto;
            r.stem = stem.into();
            render::proxy_row(buf, ctx, &r, rng);
        }
        (Planted::Iis { method, stem, query, ua, backend }, Kind::Iis(site)) => {
            let mut r = Req::new(ts, rng.guid(), Proto::Ecp);
            r.method = method.into();
            r.stem = stem.into();
            r.query = query.into();
            r.ua = ua.into();
            r.status = 200;
            r.total_ms = rng.range32(20, 400);
            if backend {
                r.client_ip = crate::ctx::SERVER_IP.into();
                r.user = ctx.machine_account.as_str().into();
            } else {
                r.client_ip = ATTACKER.into();
                r.cafe = stem.starts_with("/ecp/");
            }
            render::iis_row(buf, ctx, &r, site, IisLayout::Default);
        }
        _ => unreachable!("plants match their file kind"),
    }
}
