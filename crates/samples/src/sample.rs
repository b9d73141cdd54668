//! `generate`: lays out one server's evidence (which files, where, covering which hours) and
//! writes each file by merging planted lines into a stream of benign ones.

use std::io::{self, Write};
use std::path::Path;

use crate::ctx::{Ctx, DOMAIN};
use crate::model::Proto;
use crate::out::{DirSink, Sink, ZipSink};
use crate::plan::{self, Payload, Plan, Plant, Target};
use crate::render::{self, Cmdlet, IisLayout, Site};
use crate::rng::Rng;
use crate::time::{self, DAY, HOUR};
use crate::traffic;
use crate::{Layout, SampleSpec, Summary};

/// Where one layout puts things (forward slashes, no trailing slash).
pub(crate) struct Roots {
    /// The Exchange install folder.
    pub exi: &'static str,
    /// The folder holding `W3SVC1`, `W3SVC2`.
    pub iis: &'static str,
    /// The system drive (for `Windows/…`); empty = the evidence root.
    pub sys: &'static str,
    /// The install path as Windows writes it in logs, with the trailing backslash.
    pub exi_win: &'static str,
}

const DEFAULT_EXI_WIN: &str = r"C:\Program Files\Microsoft\Exchange Server\V15\";

pub(crate) fn roots(layout: Layout) -> Roots {
    match layout {
        Layout::ExchangeTree => Roots {
            exi: "Program Files/Microsoft/Exchange Server/V15",
            iis: "inetpub/logs/LogFiles",
            sys: "",
            exi_win: DEFAULT_EXI_WIN,
        },
        Layout::Kape => Roots {
            exi: "C/Program Files/Microsoft/Exchange Server/V15",
            iis: "C/inetpub/logs/LogFiles",
            sys: "C/",
            exi_win: DEFAULT_EXI_WIN,
        },
        Layout::Velociraptor => Roots {
            exi: "uploads/auto/C%3A/Program Files/Microsoft/Exchange Server/V15",
            iis: "uploads/auto/C%3A/inetpub/logs/LogFiles",
            sys: "uploads/auto/C%3A/",
            exi_win: DEFAULT_EXI_WIN,
        },
        Layout::Loose => Roots { exi: "D/Exchange", iis: "D/IISLogs", sys: "C/", exi_win: r"D:\Exchange\" },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Proxy(Proto),
    Iis(Site),
    Ecp,
    Oab,
    Rps,
}

impl Kind {
    fn accepts(self, t: Target) -> bool {
        match (self, t) {
            (Kind::Proxy(a), Target::Proxy(b)) => a == b,
            (Kind::Iis(a), Target::Iis(b)) => a == b,
            (Kind::Ecp, Target::Ecp) | (Kind::Oab, Target::Oab) => true,
            _ => false,
        }
    }
}

enum Content {
    Log { kind: Kind, start: i64, end: i64, lines: usize },
    Text(String),
    Bytes(Vec<u8>),
}

struct Job {
    rel: String,
    mtime: i64,
    content: Content,
}

/// HttpProxy files each cover this many hours (Exchange starts a new file every hour or when
/// one fills up; six-hour files keep the sample small while keeping the hourly names).
const PROXY_HOURS: i64 = 6;

fn jobs(spec: &SampleSpec, plan: &Plan, roots: &Roots, ctx: &Ctx) -> Vec<Job> {
    let n = spec.benign_lines_per_file;
    let low = if n == 0 { 0 } else { (n / 4).max(6) };
    let days = i64::from(spec.days.max(1));
    let mut jobs = Vec::new();
    let log = |rel: String, kind: Kind, start: i64, end: i64, lines: usize| Job {
        rel,
        mtime: end - 1_000,
        content: Content::Log { kind, start, end, lines },
    };
    let logging = format!("{}/Logging", roots.exi);
    for &w in &plan.windows {
        for d in 0..days {
            let day = w + d * DAY;
            if plan.exchange_logs {
                for proto in Proto::ALL {
                    for b in 0..(24 / PROXY_HOURS) {
                        let start = day + b * PROXY_HOURS * HOUR;
                        jobs.push(log(
                            format!("{logging}/HttpProxy/{}/HttpProxy_{}-1.LOG", proto.folder(), time::ymdh(start)),
                            Kind::Proxy(proto),
                            start,
                            start + PROXY_HOURS * HOUR,
                            n,
                        ));
                    }
                }
                jobs.push(log(
                    format!("{logging}/ECP/Server/ECPServer{}-1.LOG", time::ymd(day)),
                    Kind::Ecp,
                    day,
                    day + DAY,
                    low,
                ));
                jobs.push(log(
                    format!("{logging}/OABGeneratorLog/OABGenerator_{}-1.LOG", time::ymdh(day)),
                    Kind::Oab,
                    day,
                    day + DAY,
                    low,
                ));
                jobs.push(log(
                    format!(
                        "{logging}/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_{}-1.LOG",
                        time::ymdh(day + 8 * HOUR)
                    ),
                    Kind::Rps,
                    day + 8 * HOUR,
                    day + DAY,
                    low,
                ));
            }
            for site in [Site::Front, Site::Back] {
                jobs.push(log(
                    format!("{}/{}/u_ex{}.log", roots.iis, site.dir(), time::yymmdd(day)),
                    Kind::Iis(site),
                    day,
                    day + DAY,
                    n,
                ));
            }
        }
    }
    let last = *plan.windows.last().expect("one window") + days * DAY;
    let collected = last + DAY + 9 * HOUR + 14 * time::MIN;
    jobs.extend(extras(spec, roots, ctx, plan, collected));
    jobs
}

/// Files a collection holds that are not evidence: the hunt must recognise and skip them.
fn extras(spec: &SampleSpec, roots: &Roots, ctx: &Ctx, plan: &Plan, collected: i64) -> Vec<Job> {
    let text = |rel: String, mtime: i64, s: String| Job { rel, mtime, content: Content::Text(s.replace('\n', "\r\n")) };
    let first = plan.windows[0];
    let mut v = vec![text(
        "readme.txt".to_string(),
        collected,
        format!(
            "Triage collection of {host} ({fqdn})\n\
             Collected {when} UTC by the IT department for the incident responders.\n\
             Contents: Exchange and IIS log folders as found on the server.\n\
             \n\
             SYNTHETIC SAMPLE DATA written by taskforce-samples (seed {seed}).\n\
             It describes no real organisation, person or incident.\n",
            host = ctx.host,
            fqdn = ctx.fqdn,
            when = time::iso(collected),
            seed = spec.seed,
        ),
    )];
    let config = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <runtime>\n    <gcServer enabled=\"true\" />\n    <generatePublisherEvidence enabled=\"false\" />\n  </runtime>\n  <appSettings>\n    <add key=\"LogDirectoryPath\" value=\"Logging\\HttpProxy\" />\n    <add key=\"MaxLogDirectorySizeInMB\" value=\"1000\" />\n  </appSettings>\n</configuration>\n".to_string();
    if plan.exchange_logs {
        v.push(text(format!("{}/Bin/MSExchangeFrontEndTransport.exe.config", roots.exi), first - 40 * DAY, config));
    } else {
        v.push(text("collector.config".to_string(), collected, config));
    }
    let err_day = first + 6 * HOUR + 12 * time::MIN + 44 * time::SEC;
    let mut err = Vec::new();
    time::push_iis(&mut err, err_day);
    let err_ts = String::from_utf8(err).expect("ASCII");
    v.push(text(
        format!("{}Windows/System32/LogFiles/HTTPERR/httperr1.log", roots.sys),
        err_day + HOUR,
        format!(
            "#Software: Microsoft HTTP API 2.0\n#Version: 1.0\n#Date: {err_ts}\n#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid sc-status s-siteid s-reason s-queuename\n\
             {err_ts} 10.0.3.41 51234 10.0.0.5 443 HTTP/1.1 POST {mapi} - - 1 Connection_Abandoned_By_ReqQueue MSExchangeMapiMailboxAppPool\n\
             {err_ts} 10.0.1.10 60112 10.0.0.5 443 HTTP/1.1 GET /Microsoft-Server-ActiveSync/default.eas - - 1 Timer_ConnectionIdle -\n",
            mapi = "/mapi/emsmdb/",
        ),
    ));
    v.extend(web_files(spec, roots, ctx, plan));
    if let Some(evtx) = crate::events::management_log(spec.scenario, ctx, plan, spec.days, spec.seed) {
        v.push(Job {
            rel: format!("{}Windows/System32/winevt/Logs/MSExchange Management.evtx", roots.sys),
            mtime: collected,
            content: Content::Bytes(evtx),
        });
    }
    match spec.layout {
        Layout::Kape => v.push(text(
            format!("{}_ConsoleLog.txt", kape_stamp(collected)),
            collected,
            format!(
                "KAPE version 1.1.0.1 Author: Eric Zimmerman (kape@kroll.com)\n\
                 Using Target operations\n\
                 Found 2 targets. Expanding targets to file list...\n\
                 Target ExchangeServerLogs with Id ... found\n\
                 Target IISLogFiles with Id ... found\n\
                 Copied files to C:\\Collections\\{}\\\n",
                ctx.host
            ),
        )),
        Layout::Velociraptor => {
            v.push(text(
                "client_info.json".to_string(),
                collected,
                format!(
                    "{{\"Hostname\":\"{}\",\"Fqdn\":\"{}\",\"OS\":\"windows\",\"Platform\":\"Microsoft Windows Server 2016 Datacenter\",\"Architecture\":\"amd64\"}}\n",
                    ctx.host, ctx.fqdn
                ),
            ));
            v.push(text(
                "uploads.json".to_string(),
                collected,
                "{\"Type\":\"auto\",\"Components\":[\"C:\",\"Program Files\",\"Microsoft\",\"Exchange Server\",\"V15\",\"Logging\"]}\n".to_string(),
            ));
        }
        Layout::ExchangeTree | Layout::Loose => {}
    }
    v
}

/// Files of the web folders: stock Exchange pages (never a finding by name alone) and, on the
/// compromised server, the OAB-configuration web shell that CVE-2021-26858/27065 wrote into
/// `aspnet_client` (inert: its `Page_Load` is empty).
fn web_files(spec: &SampleSpec, roots: &Roots, ctx: &Ctx, plan: &Plan) -> Vec<Job> {
    if !plan.exchange_logs {
        return Vec::new();
    }
    let first = plan.windows[0];
    let installed = first - 120 * DAY;
    let page = |title: &str| {
        format!(
            "<%@ Page Language=\"C#\" AutoEventWireup=\"true\" Inherits=\"Microsoft.Exchange.HttpProxy.{title}\" %>\r\n<!DOCTYPE html>\r\n<html><head><title>Outlook</title></head><body><!-- stock page (synthetic sample) --></body></html>\r\n"
        )
    };
    let mut v = vec![
        Job {
            rel: format!("{}/FrontEnd/HttpProxy/owa/auth/logon.aspx", roots.exi),
            mtime: installed,
            content: Content::Text(page("Logon")),
        },
        Job {
            rel: format!("{}/FrontEnd/HttpProxy/owa/auth/errorFE.aspx", roots.exi),
            mtime: installed,
            content: Content::Text(page("ErrorFE")),
        },
        Job {
            rel: format!("{}/FrontEnd/HttpProxy/ecp/auth/TimeoutLogout.aspx", roots.exi),
            mtime: installed,
            content: Content::Text(page("TimeoutLogout")),
        },
    ];
    if spec.scenario == crate::Scenario::Compromised {
        let written = plan
            .plants
            .iter()
            .find(|p| matches!(&p.payload, Payload::Oab { msg, .. } if msg.contains("supp0rt.aspx")))
            .map(|p| p.ts)
            .unwrap_or(first + DAY);
        let shell = format!(
            "Name                            : OAB (Default Web Site)\r\n\
             PollInterval                    : 480\r\n\
             OfflineAddressBooks             : \r\n\
             RequireSSL                      : True\r\n\
             BasicAuthentication             : False\r\n\
             WindowsAuthentication           : True\r\n\
             OAuthAuthentication             : False\r\n\
             MetabasePath                    : IIS://{fqdn}/W3SVC/1/ROOT/OAB\r\n\
             Path                            : {exi}FrontEnd\\HttpProxy\\OAB\r\n\
             ExtendedProtectionTokenChecking : None\r\n\
             ExtendedProtectionFlags         : \r\n\
             InternalUrl                     : https://{fqdn_lc}/OAB\r\n\
             InternalAuthenticationMethods   : {{WindowsIntegrated}}\r\n\
             ExternalUrl                     : http://f/<script language=\"JScript\" runat=\"server\">function Page_Load(){{/* synthetic sample: inert */}}</script>\r\n\
             ExternalAuthenticationMethods   : {{WindowsIntegrated}}\r\n\
             AdminDisplayName                : \r\n\
             Server                          : {host}\r\n",
            fqdn = ctx.fqdn,
            fqdn_lc = ctx.fqdn_lc,
            exi = ctx.exi,
            host = ctx.host,
        );
        v.push(Job {
            rel: format!("{}inetpub/wwwroot/aspnet_client/supp0rt.aspx", roots.sys),
            mtime: written,
            content: Content::Text(shell),
        });
    }
    v
}

fn kape_stamp(ts: i64) -> String {
    let p = time::parts(ts);
    format!("{:04}-{:02}-{:02}T{:02}{:02}{:02}", p.y, p.mo, p.d, p.h, p.mi, p.s)
}

pub(crate) fn generate(spec: &SampleSpec, out: &Path) -> io::Result<Summary> {
    if spec.host.is_empty() || !spec.host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "host must be a NetBIOS-style name (letters, digits, '-')",
        ));
    }
    let prof = plan::profile(spec.scenario);
    let roots = roots(spec.layout);
    let ctx = Ctx::new(&spec.host, prof.build, roots.exi_win, prof.era, spec.seed);
    let plan = plan::plan(spec.scenario, spec.days, &ctx, spec.seed);
    let jobs = jobs(spec, &plan, &roots, &ctx);
    if spec.zip {
        let mut sink = ZipSink::create(out)?;
        let s = run(&mut sink, spec, &ctx, &plan, &jobs)?;
        sink.finish()?;
        Ok(s)
    } else {
        std::fs::create_dir_all(out)?;
        let mut sink = DirSink { root: out.to_path_buf() };
        run(&mut sink, spec, &ctx, &plan, &jobs)
    }
}

fn run(sink: &mut dyn Sink, spec: &SampleSpec, ctx: &Ctx, plan: &Plan, jobs: &[Job]) -> io::Result<Summary> {
    let mut total = Summary::default();
    for job in jobs {
        let mut attacks = 0;
        let bytes = match &job.content {
            Content::Text(s) => sink.file(&job.rel, job.mtime, &mut |w| w.write_all(s.as_bytes()))?,
            Content::Bytes(b) => sink.file(&job.rel, job.mtime, &mut |w| w.write_all(b))?,
            Content::Log { kind, start, end, lines } => {
                let plants: Vec<&Plant> =
                    plan.plants.iter().filter(|p| kind.accepts(p.target) && p.ts >= *start && p.ts < *end).collect();
                let mut rng = Rng::derive(spec.seed, &format!("{}/{}", spec.scenario.name(), job.rel));
                let file = LogFile { kind: *kind, start: *start, end: *end, lines: *lines, restart: plan.iis_restart };
                sink.file(&job.rel, job.mtime, &mut |w| {
                    attacks = file.write(w, ctx, &plants, &mut rng)?;
                    Ok(())
                })?
            }
        };
        total.add(Summary { files: 1, bytes, attack_lines: attacks });
    }
    let planted = plan.plants.iter().filter(|p| p.attack).count();
    debug_assert_eq!(total.attack_lines, planted, "every planted attack line lands in a file");
    Ok(total)
}

struct LogFile {
    kind: Kind,
    start: i64,
    end: i64,
    lines: usize,
    restart: i64,
}

impl LogFile {
    /// Writes the header, then benign and planted rows in time order. Returns the number of
    /// attack rows written.
    fn write(&self, w: &mut dyn Write, ctx: &Ctx, plants: &[&Plant], rng: &mut Rng) -> io::Result<usize> {
        let mut buf = Vec::with_capacity(4096);
        let bom = rng.chance(65);
        let created = self.start + rng.range(20, 900) as i64;
        let span = (self.end - created).max(1);
        let slot = span / self.lines.max(1) as i64;
        let mut crng = Rng::new(rng.next_u64());
        // OAB generation runs in bursts of six lines a few seconds apart; everything else is
        // spread evenly over the file's period.
        let oab = self.kind == Kind::Oab;
        let run_slot = span / self.lines.div_ceil(6).max(1) as i64;
        let mut run_base = created;
        let mut clock = (0..self.lines).map(move |i| {
            if oab {
                if i % 6 == 0 {
                    run_base = created + (i / 6) as i64 * run_slot + crng.below((run_slot / 2).max(1) as u64) as i64;
                }
                run_base + (i % 6) as i64 * 2_000 + crng.below(1_500) as i64
            } else {
                created + i as i64 * slot + crng.below(slot.max(1) as u64) as i64
            }
        });
        let mut pending = clock.next();
        let mut planted = plants.iter().peekable();
        let mut layout = match self.kind {
            Kind::Iis(Site::Front) if self.start >= self.restart => IisLayout::WithHost,
            _ => IisLayout::Default,
        };
        let mut restart_due =
            matches!(self.kind, Kind::Iis(Site::Front)) && (self.start..self.end).contains(&self.restart);

        // Header.
        let v = ctx.build_padded.as_str();
        match self.kind {
            Kind::Proxy(_) => {
                render::exchange_header(&mut buf, bom, v, "HttpProxy Logs", created, render::PROXY_FIELDS)
            }
            Kind::Ecp => {
                render::exchange_header(&mut buf, bom, "15.0.0.0", "ECP Server Log", created, render::ECP_FIELDS)
            }
            Kind::Oab => render::exchange_header(&mut buf, bom, v, "OABGenerator Log", created, render::OAB_FIELDS),
            Kind::Rps => render::exchange_header(&mut buf, bom, v, "Rps Cmdlet Logs", created, render::RPS_FIELDS),
            Kind::Iis(_) => {
                let first = match (pending, planted.peek()) {
                    (Some(a), Some(p)) => a.min(p.ts),
                    (Some(a), None) => a,
                    (None, Some(p)) => p.ts,
                    (None, None) => created,
                };
                render::iis_header(&mut buf, first, layout);
            }
        }
        w.write_all(&buf)?;

        let mut attacks = 0;
        let mut oab_seq = 0;
        loop {
            let take_plant = match (pending, planted.peek()) {
                (None, None) => break,
                (Some(b), Some(p)) => p.ts <= b,
                (None, Some(_)) => true,
                (Some(_), None) => false,
            };
            let ts = if take_plant { planted.peek().expect("checked").ts } else { pending.expect("checked") };
            buf.clear();
            if restart_due && ts >= self.restart {
                layout = IisLayout::WithHost;
                render::iis_header(&mut buf, self.restart, layout);
                restart_due = false;
            }
            if take_plant {
                let p = planted.next().expect("checked");
                self.plant(&mut buf, ctx, p, layout, rng);
                attacks += usize::from(p.attack);
            } else {
                self.benign(&mut buf, ctx, ts, layout, rng, &mut oab_seq);
                pending = clock.next();
            }
            w.write_all(&buf)?;
        }
        Ok(attacks)
    }

    fn plant(&self, buf: &mut Vec<u8>, ctx: &Ctx, p: &Plant, layout: IisLayout, rng: &mut Rng) {
        match (&p.payload, self.kind) {
            (Payload::Req(r), Kind::Proxy(_)) => render::proxy_row(buf, ctx, r, rng),
            (Payload::Req(r), Kind::Iis(site)) => render::iis_row(buf, ctx, r, site, layout),
            (Payload::Ecp { event, data }, _) => render::ecp_row(buf, p.ts, &ctx.host, event, data),
            (Payload::Oab { severity, msg }, _) => {
                render::oab_row(buf, p.ts, rng.range32(8, 90), severity, "OABGenerator", msg)
            }
            (Payload::Req(_), _) => unreachable!("request plants target HttpProxy or IIS files"),
        }
    }

    fn benign(&self, buf: &mut Vec<u8>, ctx: &Ctx, ts: i64, layout: IisLayout, rng: &mut Rng, oab_seq: &mut usize) {
        match self.kind {
            Kind::Proxy(proto) => {
                let r = traffic::benign(ctx, rng, proto, ts);
                render::proxy_row(buf, ctx, &r, rng);
            }
            Kind::Iis(Site::Front) => {
                let proto = traffic::pick_proto(rng);
                let r = traffic::benign(ctx, rng, proto, ts);
                render::iis_row(buf, ctx, &r, Site::Front, layout);
            }
            Kind::Iis(Site::Back) => {
                let r = traffic::backend(ctx, rng, ts);
                render::iis_row(buf, ctx, &r, Site::Back, layout);
            }
            Kind::Ecp => benign_ecp(buf, ctx, ts, rng),
            Kind::Oab => {
                benign_oab(buf, ctx, ts, rng, *oab_seq);
                *oab_seq += 1;
            }
            Kind::Rps => benign_rps(buf, ctx, ts, rng),
        }
    }
}

/// Admin-center and options-page activity in the ECP Server log.
fn benign_ecp(buf: &mut Vec<u8>, ctx: &Ctx, ts: i64, rng: &mut Rng) {
    let u = rng.pick(&ctx.users);
    let a = rng.pick(&ctx.admins);
    let (usid, cmd, url) = match rng.below(7) {
        0 => (&a.sid, "Get-Mailbox.ResultSize='500'.SortBy='DisplayName'.RecipientTypeDetails='UserMailbox,LinkedMailbox,SharedMailbox,RoomMailbox'".to_string(), "GetList?schema=MailboxService"),
        1 => (&a.sid, format!("Get-MailboxStatistics.Identity='{}'", u.upn), "GetObject?schema=MailboxPropertiesService"),
        2 => (&a.sid, format!("Set-Mailbox.Identity='{}'.ProhibitSendQuota='9.5 GB (10,200,547,328 bytes)'.IssueWarningQuota='9 GB (9,663,676,416 bytes)'", u.upn), "SetObject?schema=MailboxPropertiesService"),
        3 => (&a.sid, format!("Get-ExchangeServer.Identity='{}'.Status='True'", ctx.host), "GetList?schema=ServersService"),
        4 => (&a.sid, "Get-DistributionGroup.ResultSize='500'".to_string(), "GetList?schema=DistributionGroup"),
        5 => (&u.sid, format!("Get-InboxRule.Mailbox='{}'", u.upn), "GetList?schema=InboxRules"),
        _ => (&u.sid, format!("Get-MailboxRegionalConfiguration.Identity='{}'", u.upn), "GetObject?schema=RegionalSettings"),
    };
    let data = format!(
        "S:TIME={};S:SID={};S:USID={usid};S:CMD={cmd};S:REQID=;S:URL=/ecp/DDI/DDIService.svc/{url}&msExchEcpCanary={};S:REFERRER=https://mail.contoso.com/ecp/;S:EX=;S:ACTID={};S:RS=0;S:BLD={}",
        rng.range(8, 900),
        rng.guid_string(),
        ctx.canary,
        rng.guid_string(),
        ctx.build_dotted
    );
    render::ecp_row(buf, ts, &ctx.host, "ECP.Request", &data);
}

/// One OAB generation run, six lines, repeated; the temp-file line is the known false positive.
fn benign_oab(buf: &mut Vec<u8>, ctx: &Ctx, ts: i64, rng: &mut Rng, seq: usize) {
    let oab = "\\Default Offline Address Book";
    let (sev, comp, msg) = match seq % 6 {
        0 => ("Info", "OABGeneratorAssistant", format!("Beginning generation of OAB '{oab}' ({})", ctx.oab_guid)),
        1 => (
            "Info",
            "OABGenerator",
            format!("Processing address list '\\Default Global Address List': {} entries", rng.range(400, 2200)),
        ),
        2 => (
            "Info",
            "OABGenerator",
            format!("Processed {} recipients in {} ms", rng.range(400, 2200), rng.range(900, 9000)),
        ),
        3 => (
            "Warning",
            "OABFileHandler",
            format!(
                "Download failed and temporary file '{}ClientAccess\\OAB\\Temp\\{}.tmp' needs to be removed.",
                ctx.exi,
                rng.guid_string()
            ),
        ),
        4 => ("Info", "OABFileHandler", format!("Wrote OAB files to '{}ClientAccess\\OAB\\{}'", ctx.exi, ctx.oab_guid)),
        _ => ("Info", "OABGeneratorAssistant", format!("Generation of OAB '{oab}' completed successfully")),
    };
    render::oab_row(buf, ts, rng.range32(8, 90), sev, comp, &msg);
}

/// Admins' remote PowerShell cmdlets.
fn benign_rps(buf: &mut Vec<u8>, ctx: &Ctx, ts: i64, rng: &mut Rng) {
    let a = rng.pick(&ctx.admins);
    let u = rng.pick(&ctx.users);
    let (cmdlet, params, names): (&str, String, &str) = match rng.below(10) {
        0 => ("Get-Mailbox", format!("-Identity \"{}\"", u.upn), "-Identity"),
        1 => ("Get-Mailbox", "-ResultSize \"Unlimited\"".into(), "-ResultSize"),
        2 => (
            "Set-Mailbox",
            format!("-Identity \"{}\" -ProhibitSendQuota \"9.5GB\" -IssueWarningQuota \"9GB\"", u.upn),
            "-Identity -ProhibitSendQuota -IssueWarningQuota",
        ),
        3 => ("Get-MailboxStatistics", format!("-Identity \"{}\"", u.upn), "-Identity"),
        4 => ("Get-MailboxDatabase", "-Status \"True\"".into(), "-Status"),
        5 => ("Get-ExchangeServer", String::new(), ""),
        6 => (
            "Set-CASMailbox",
            format!("-Identity \"{}\" -ActiveSyncEnabled \"False\"", u.upn),
            "-Identity -ActiveSyncEnabled",
        ),
        7 => (
            "Add-MailboxPermission",
            format!(
                "-Identity \"shared.finance@contoso.com\" -User \"{}\" -AccessRights \"FullAccess\" -InheritanceType \"All\"",
                u.upn
            ),
            "-Identity -User -AccessRights -InheritanceType",
        ),
        8 => ("Get-Queue", String::new(), ""),
        _ => ("Test-ServiceHealth", format!("-Server \"{}\"", ctx.host), "-Server"),
    };
    let ok = !(cmdlet == "Get-Mailbox" && rng.chance(5));
    let user = format!("{DOMAIN}\\{}", a.sam);
    render::rps_row(
        buf,
        ctx,
        &Cmdlet { ts, user: &user, sid: &a.sid, cmdlet, params: &params, param_names: names, ok, client_app: "EMS" },
        rng,
    );
}
