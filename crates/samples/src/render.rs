//! Byte-level writers for each log format. Every row is built in a reused `Vec<u8>` (no
//! per-field allocation), ends with CRLF as Windows writes it, and Exchange CSV fields are quoted
//! (with `""` doubling) only when they contain a comma, quote or line break.

use crate::ctx::{Ctx, MAIL_HOST, SERVER_IP};
use crate::model::Req;
use crate::rng::Rng;
use crate::time::{push_iis, push_iso};

/// The Exchange 2016 HttpProxy `#Fields:` list (detections.md B.1).
pub(crate) const PROXY_FIELDS: &str = "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,RoutingStatus";

/// ECP Server log (B.2).
pub(crate) const ECP_FIELDS: &str = "TimeStamp,ServerName,EventId,EventData";

/// OABGenerator log: the real column set is unverified (B.3); this one is plausible and every
/// row starts with the ISO timestamp.
pub(crate) const OAB_FIELDS: &str = "DateTime,ThreadId,Severity,Component,Message";

/// Rps cmdlet log: the B.6 columns up to `Parameters`, the rest invented but plausible.
pub(crate) const RPS_FIELDS: &str = "DateTime,StartTime,RequestId,ClientRequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ServerHostName,ProcessId,ProcessName,ThreadId,CultureInfo,Organization,AuthenticatedUser,ExecutingUserSid,EffectiveOrganization,UserServicePlan,IsAdmin,ClientApplication,Cmdlet,Parameters,CmdletUniqueId,UserBudgetOnStart,ContributeToFailFast,RunspaceSettingsCreationHint,ADViewEntireForest,ADRecipientViewRoot,ADConfigurationDomainControllers,ADRecipientReadDomainController,OutputObjectCount,ParameterBinding,BeginProcessing,ProcessRecord,EndProcessing,TotalTime,ErrorType,ExecutionResult,Warnings,Exceptions,ActivityId,GenericInfo,GenericErrors,NonPiiParameters";

/// The default Exchange IIS field set (B.5).
pub(crate) const IIS_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";
/// After the simulated restart an admin had added `cs-host`, which shifts every later column.
pub(crate) const IIS_FIELDS_HOST: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) cs-host sc-status sc-substatus sc-win32-status time-taken";

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// IIS sites: the front end ("Default Web Site") and the back end ("Exchange Back End").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Front,
    Back,
}

impl Site {
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Site::Front => "W3SVC1",
            Site::Back => "W3SVC2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IisLayout {
    Default,
    WithHost,
}

impl IisLayout {
    pub(crate) fn fields(self) -> &'static str {
        match self {
            IisLayout::Default => IIS_FIELDS,
            IisLayout::WithHost => IIS_FIELDS_HOST,
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_guid(buf: &mut Vec<u8>, g: &[u8; 16]) {
    for (i, b) in g.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf.push(b'-');
        }
        buf.push(HEX[(b >> 4) as usize]);
        buf.push(HEX[(b & 15) as usize]);
    }
}

pub(crate) fn guid_str(g: &[u8; 16]) -> String {
    let mut v = Vec::with_capacity(36);
    push_guid(&mut v, g);
    String::from_utf8(v).expect("ASCII")
}

pub(crate) fn push_num(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn needs_quote(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// One CSV field, quoted only when needed.
pub(crate) fn push_csv(buf: &mut Vec<u8>, s: &str) {
    if needs_quote(s) {
        buf.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

#[inline]
fn c(buf: &mut Vec<u8>, s: &str) {
    push_csv(buf, s);
    buf.push(b',');
}

#[inline]
fn n(buf: &mut Vec<u8>, v: u64) {
    push_num(buf, v);
    buf.push(b',');
}

#[inline]
fn e(buf: &mut Vec<u8>) {
    buf.push(b',');
}

/// The `#Software` … `#Fields` block every Exchange log starts with.
pub(crate) fn exchange_header(buf: &mut Vec<u8>, bom: bool, version: &str, log_type: &str, date: i64, fields: &str) {
    if bom {
        buf.extend_from_slice(BOM);
    }
    buf.extend_from_slice(b"#Software: Microsoft Exchange Server\r\n#Version: ");
    buf.extend_from_slice(version.as_bytes());
    buf.extend_from_slice(b"\r\n#Log-type: ");
    buf.extend_from_slice(log_type.as_bytes());
    buf.extend_from_slice(b"\r\n#Date: ");
    push_iso(buf, date);
    buf.extend_from_slice(b"\r\n#Fields: ");
    buf.extend_from_slice(fields.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// The W3C header IIS writes when it opens a file or restarts.
pub(crate) fn iis_header(buf: &mut Vec<u8>, date: i64, layout: IisLayout) {
    buf.extend_from_slice(b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: ");
    push_iis(buf, date);
    buf.extend_from_slice(b"\r\n#Fields: ");
    buf.extend_from_slice(layout.fields().as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// One HttpProxy row, columns exactly in `PROXY_FIELDS` order.
pub(crate) fn proxy_row(buf: &mut Vec<u8>, ctx: &Ctx, r: &Req<'_>, rng: &mut Rng) {
    let b = &ctx.build;
    let proxied = !r.target.is_empty();
    let total = u64::from(r.total_ms);
    let rnd = rng.next_u64();
    // Small latencies from the bits of one random draw.
    let l = |shift: u32, max: u64| ((rnd >> shift) & 0xff) % (max + 1);
    let overhead = l(0, 6) + 1;
    let backend = total.saturating_sub(overhead);

    push_iso(buf, r.ts);
    buf.push(b',');
    push_guid(buf, &r.rid);
    buf.push(b',');
    n(buf, u64::from(b.major));
    n(buf, u64::from(b.minor));
    n(buf, u64::from(b.build));
    n(buf, u64::from(b.rev));
    if let Some(g) = &r.client_rid {
        push_guid(buf, g);
    }
    e(buf);
    c(buf, r.proto.folder());
    c(buf, MAIL_HOST);
    c(buf, &r.stem);
    c(buf, &r.action);
    c(buf, &r.auth_type);
    c(buf, if r.authenticated { "true" } else { "false" });
    c(buf, &r.user);
    e(buf); // Organization
    c(buf, &r.anchor);
    c(buf, &r.ua);
    c(buf, &r.client_ip);
    c(buf, &ctx.host);
    n(buf, u64::from(r.status));
    if r.backend_status != 0 {
        push_num(buf, u64::from(r.backend_status));
    }
    e(buf);
    c(buf, &r.error_code);
    c(buf, &r.method);
    c(buf, if proxied { "Proxy" } else { "" });
    c(buf, &r.target);
    if proxied {
        c(buf, if r.target_version.is_empty() { &ctx.build_padded } else { &r.target_version });
    } else {
        e(buf);
    }
    c(buf, &r.routing_type);
    c(buf, &r.routing_hint);
    c(buf, &r.backend_cookie);
    if proxied {
        c(buf, &ctx.fqdn_lc); // ServerLocatorHost
        n(buf, l(8, 2)); // ServerLocatorLatency
    } else {
        e(buf);
        e(buf);
    }
    n(buf, u64::from(r.req_bytes));
    n(buf, u64::from(r.resp_bytes));
    if proxied {
        n(buf, l(16, 3));
    } else {
        e(buf);
    }
    e(buf); // AuthModulePerfContext
    n(buf, l(24, 1)); // HttpPipelineLatency
    if proxied {
        n(buf, l(28, 2));
    } else {
        e(buf);
    }
    e(buf); // GlsLatencyBreakup
    e(buf); // TotalGlsLatency
    e(buf); // AccountForestLatencyBreakup
    e(buf); // TotalAccountForestLatency
    e(buf); // ResourceForestLatencyBreakup
    e(buf); // TotalResourceForestLatency
    if proxied {
        n(buf, l(32, 4)); // ADLatency
    } else {
        e(buf);
    }
    e(buf); // SharedCacheLatencyBreakup
    e(buf); // TotalSharedCacheLatency
    n(buf, total); // ActivityContextLifeTime
    n(buf, 0); // ModuleToHandlerSwitchingLatency
    if proxied {
        n(buf, l(36, 1)); // ClientReqStreamLatency
        n(buf, l(40, 1)); // BackendReqInitLatency
        n(buf, 0); // BackendReqStreamLatency
        n(buf, backend); // BackendProcessingLatency
        n(buf, l(44, 1)); // BackendRespInitLatency
        n(buf, 0); // BackendRespStreamLatency
        n(buf, l(48, 1)); // ClientRespStreamLatency
    } else {
        for _ in 0..7 {
            e(buf);
        }
    }
    n(buf, l(52, 1)); // KerberosAuthHeaderLatency
    n(buf, 0); // HandlerCompletionLatency
    n(buf, total.saturating_sub(1)); // RequestHandlerLatency
    n(buf, 0); // HandlerToModuleSwitchingLatency
    if proxied {
        n(buf, backend); // ProxyTime
    } else {
        e(buf);
    }
    n(buf, l(56, 4) + 1); // CoreLatency
    n(buf, l(60, 2)); // RoutingLatency
    n(buf, overhead); // HttpProxyOverhead
    n(buf, total); // TotalRequestTime
    n(buf, 0); // RouteRefresherLatency
    if r.query.is_empty() {
        e(buf);
    } else if needs_quote(&r.query) {
        c(buf, &format!("?{}", r.query));
    } else {
        buf.push(b'?');
        buf.extend_from_slice(r.query.as_bytes());
        buf.push(b',');
    }
    e(buf); // BackEndGenericInfo
    // GenericInfo
    let gi_start = buf.len();
    buf.extend_from_slice(b"BeginRequest=");
    push_iso(buf, r.ts - total as i64);
    buf.extend_from_slice(b";CorrelationID=<empty>;ProxyState-Run=None;");
    if proxied {
        buf.extend_from_slice(b"FEAuth=BEVersion-1942061997;BeginGetResponse=");
        push_iso(buf, r.ts - backend as i64);
        buf.extend_from_slice(b";OnResponseReady=");
        push_iso(buf, r.ts - 1);
        buf.extend_from_slice(b";EndGetResponse=");
        push_iso(buf, r.ts - 1);
        buf.extend_from_slice(b";ProxyState-Complete=ProxyResponseData;");
    }
    buf.extend_from_slice(r.generic_extra.as_bytes());
    buf.extend_from_slice(b"EndRequest=");
    push_iso(buf, r.ts);
    buf.extend_from_slice(b";");
    if proxied {
        buf.extend_from_slice(b"I32:ADS.C[DC01]=1;F:ADS.AL[DC01]=");
        push_num(buf, l(4, 3));
        buf.push(b'.');
        push_num(buf, 1000 + (rnd >> 20) % 9000);
        buf.push(b';');
    }
    if buf[gi_start..].iter().any(|&b| matches!(b, b',' | b'"')) {
        let gi = String::from_utf8_lossy(&buf[gi_start..]).into_owned();
        buf.truncate(gi_start);
        push_csv(buf, &gi);
    }
    buf.push(b',');
    e(buf); // GenericErrors
    e(buf); // EdgeTraceId
    c(buf, &r.database_guid);
    c(buf, &r.user_guid);
    e(buf); // PartitionEndpointLookupLatency
    // RoutingStatus: last column, no trailing comma.
    buf.extend_from_slice(b"\r\n");
}

fn push_w3c(buf: &mut Vec<u8>, s: &str) {
    if s.is_empty() {
        buf.push(b'-');
        return;
    }
    for b in s.bytes() {
        buf.push(if b == b' ' { b'+' } else { b });
    }
}

/// One IIS W3C row for `site` in `layout`.
pub(crate) fn iis_row(buf: &mut Vec<u8>, ctx: &Ctx, r: &Req<'_>, site: Site, layout: IisLayout) {
    push_iis(buf, r.ts);
    buf.push(b' ');
    buf.extend_from_slice(SERVER_IP.as_bytes());
    buf.push(b' ');
    push_w3c(buf, &r.method);
    buf.push(b' ');
    push_w3c(buf, &r.stem);
    buf.push(b' ');
    if r.cafe {
        push_w3c(buf, &r.query);
        if r.query.is_empty() {
            buf.pop();
        }
        buf.extend_from_slice(b"&CorrelationID=<empty>;&cafeReqId=");
        push_guid(buf, &r.rid);
        buf.push(b';');
    } else {
        push_w3c(buf, &r.query);
    }
    buf.extend_from_slice(match site {
        Site::Front => b" 443 ",
        Site::Back => b" 444 ",
    });
    push_w3c(buf, &r.user);
    buf.push(b' ');
    push_w3c(buf, &r.client_ip);
    buf.push(b' ');
    push_w3c(buf, &r.ua);
    buf.push(b' ');
    push_w3c(buf, &r.referer);
    buf.push(b' ');
    if layout == IisLayout::WithHost {
        match site {
            Site::Front => buf.extend_from_slice(MAIL_HOST.as_bytes()),
            Site::Back => {
                buf.extend_from_slice(ctx.fqdn_lc.as_bytes());
                buf.extend_from_slice(b":444");
            }
        }
        buf.push(b' ');
    }
    push_num(buf, u64::from(r.status));
    buf.push(b' ');
    push_num(buf, u64::from(r.iis_substatus));
    buf.push(b' ');
    push_num(buf, u64::from(r.iis_win32));
    buf.push(b' ');
    push_num(buf, u64::from(r.total_ms));
    buf.extend_from_slice(b"\r\n");
}

pub(crate) fn ecp_row(buf: &mut Vec<u8>, ts: i64, server: &str, event: &str, data: &str) {
    push_iso(buf, ts);
    buf.push(b',');
    c(buf, server);
    c(buf, event);
    push_csv(buf, data);
    buf.extend_from_slice(b"\r\n");
}

pub(crate) fn oab_row(buf: &mut Vec<u8>, ts: i64, thread: u32, severity: &str, component: &str, msg: &str) {
    push_iso(buf, ts);
    buf.push(b',');
    n(buf, u64::from(thread));
    c(buf, severity);
    c(buf, component);
    push_csv(buf, msg);
    buf.extend_from_slice(b"\r\n");
}

/// A cmdlet run through remote PowerShell.
pub(crate) struct Cmdlet<'a> {
    pub ts: i64,
    pub user: &'a str,
    pub sid: &'a str,
    pub cmdlet: &'a str,
    pub params: &'a str,
    pub param_names: &'a str,
    pub ok: bool,
    pub client_app: &'a str,
}

pub(crate) fn rps_row(buf: &mut Vec<u8>, ctx: &Ctx, cm: &Cmdlet<'_>, rng: &mut Rng) {
    let b = &ctx.build;
    let total = rng.range(15, 2500);
    push_iso(buf, cm.ts);
    buf.push(b',');
    push_iso(buf, cm.ts - total as i64);
    buf.push(b',');
    push_guid(buf, &rng.guid());
    buf.push(b',');
    e(buf); // ClientRequestId
    n(buf, u64::from(b.major));
    n(buf, u64::from(b.minor));
    n(buf, u64::from(b.build));
    n(buf, u64::from(b.rev));
    c(buf, &ctx.host);
    n(buf, 15_756);
    c(buf, "w3wp#MSExchangePowerShellAppPool");
    n(buf, rng.range(20, 140));
    c(buf, "en-US");
    e(buf); // Organization
    c(buf, cm.user);
    c(buf, cm.sid);
    e(buf); // EffectiveOrganization
    e(buf); // UserServicePlan
    c(buf, "True");
    c(buf, cm.client_app);
    c(buf, cm.cmdlet);
    c(buf, cm.params);
    push_guid(buf, &rng.guid());
    buf.push(b',');
    c(
        buf,
        "Conn:1,HangingConn:0,AD:40000/40000/0%,CAS:54000/53998/1%,AB:Unlimited/Unlimited/0%,RPC:Unlimited/Unlimited/0%",
    );
    c(buf, "False");
    c(buf, "Rps");
    c(buf, "True");
    c(buf, "contoso.local");
    c(buf, "DC01.contoso.local");
    c(buf, "DC01.contoso.local");
    n(buf, if cm.ok { rng.range(1, 40) } else { 0 });
    n(buf, rng.range(0, 3));
    n(buf, rng.range(0, 5));
    n(buf, total.saturating_sub(10));
    n(buf, rng.range(0, 2));
    n(buf, total);
    c(buf, if cm.ok { "" } else { "ManagementObjectNotFoundException" });
    c(buf, if cm.ok { "Success" } else { "Error" });
    e(buf); // Warnings
    e(buf); // Exceptions
    push_guid(buf, &rng.guid());
    buf.push(b',');
    e(buf); // GenericInfo
    e(buf); // GenericErrors
    push_csv(buf, cm.param_names);
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ctx::Era;
    use crate::model::{Build, Proto};

    /// A minimal RFC 4180 splitter for tests.
    pub(crate) fn split_csv(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(ch) = chars.next() {
            match (quoted, ch) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                (true, '"') => quoted = false,
                (false, '"') if cur.is_empty() => quoted = true,
                (false, ',') => out.push(std::mem::take(&mut cur)),
                _ => cur.push(ch),
            }
        }
        out.push(cur);
        out
    }

    #[test]
    fn proxy_row_matches_fields() {
        let ctx = Ctx::new(
            "EXCH01",
            Build::new(15, 1, 2176, 2),
            r"C:\Program Files\Microsoft\Exchange Server\V15\",
            Era::Y2021,
            1,
        );
        let names: Vec<&str> = PROXY_FIELDS.split(',').collect();
        let idx = |n: &str| names.iter().position(|x| *x == n).unwrap();
        let mut rng = Rng::new(3);
        for i in 0..2000 {
            let proto = Proto::ALL[i % 9];
            let r = crate::traffic::benign(&ctx, &mut rng, proto, 1_614_745_272_345);
            let mut buf = Vec::new();
            proxy_row(&mut buf, &ctx, &r, &mut rng);
            let line = std::str::from_utf8(&buf).unwrap();
            assert!(line.ends_with("\r\n"));
            let cols = split_csv(line.trim_end());
            assert_eq!(cols.len(), names.len(), "{line}");
            assert_eq!(cols[idx("Protocol")], proto.folder());
            assert_eq!(cols[idx("ServerHostName")], "EXCH01");
            assert_eq!(cols[idx("BuildVersion")], "2176");
            assert_eq!(cols[idx("UserAgent")], r.ua);
            assert_eq!(cols[idx("AnchorMailbox")], r.anchor);
            assert!(!cols[idx("AnchorMailbox")].starts_with("ServerInfo~"));
            assert_eq!(cols[idx("HttpStatus")], r.status.to_string());
            assert!(cols[idx("GenericInfo")].starts_with("BeginRequest="));
        }
    }

    #[test]
    fn csv_quoting_doubles_quotes() {
        let mut v = Vec::new();
        push_csv(&mut v, r#"a "b", c"#);
        assert_eq!(v, br#""a ""b"", c""#);
        assert_eq!(split_csv(r#"x,"a ""b"", c",y"#), ["x", r#"a "b", c"#, "y"]);
    }
}
