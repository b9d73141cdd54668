//! Benign traffic of a busy on-premises Exchange server: Outlook over MAPI/HTTP and RPC/HTTP,
//! OWA and ECP users, phones over ActiveSync, EWS clients (Mac Outlook, line-of-business apps,
//! the Teams calendar service), Autodiscover (including the legitimate
//! `/autodiscover/autodiscover.json/v1.0/<user>` form), OAB downloads, admins on remote
//! PowerShell, and the Managed Availability health probes.

use crate::ctx::{Ctx, SERVER_IP};
use crate::model::{Proto, Req};
use crate::rng::Rng;

/// Share of each protocol in the front end's (W3SVC1) mix.
pub(crate) const IIS_MIX: [(Proto, u32); 9] = [
    (Proto::Mapi, 30),
    (Proto::Ews, 14),
    (Proto::Eas, 16),
    (Proto::Owa, 16),
    (Proto::Autodiscover, 9),
    (Proto::RpcHttp, 5),
    (Proto::Ecp, 4),
    (Proto::Oab, 3),
    (Proto::PowerShell, 3),
];

pub(crate) fn pick_proto(rng: &mut Rng) -> Proto {
    let weights: [u32; 9] = IIS_MIX.map(|(_, w)| w);
    IIS_MIX[rng.weighted(&weights)].0
}

const TEAMS_EWS_UA: &str = "MicrosoftNinja/1.0 Teams/1.0 (ExchangeServicesClient/0.0.0.0) SkypeSpaces/1.0a$*+";
const LOB_EWS_UA: &str = "ExchangeServicesClient/15.00.0913.015";
const PROBE_UA: &str = "AMProbe/Local/ClientAccess";
const WINRM_UA: &str = "Microsoft WinRM Client";
const OWA_ACTIONS: &[&str] = &[
    "FindItem",
    "GetItem",
    "GetConversationItems",
    "FindConversation",
    "GetOwaUserConfiguration",
    "UpdateItem",
    "CreateItem",
    "GetCalendarView",
    "GetAccessTokenforResource",
];
const MAPI_ACTIONS: &[&str] = &["Execute", "Execute", "Execute", "NotificationWait", "Connect", "Disconnect"];
const ROUTING_USER: &[&str] = &["Smtp-UrlAnchorMailbox", "Sid-UserToken", "CommonAccessToken-Windows"];

/// Fills the front-end fields every proxied, authenticated request shares.
fn base<'a>(ctx: &'a Ctx, rng: &mut Rng, proto: Proto, ts: i64, u: &'a crate::ctx::User) -> Req<'a> {
    let mut r = Req::new(ts, rng.guid(), proto);
    r.client_ip = u.ip.as_str().into();
    r.user = u.dom_user.as_str().into();
    r.authenticated = true;
    r.anchor = u.anchor_smtp.as_str().into();
    r.target = ctx.fqdn_lc.as_str().into();
    r.routing_type = "Database".into();
    r.routing_hint = (*rng.pick(ROUTING_USER)).into();
    r.database_guid = u.db_guid.as_str().into();
    r.user_guid = u.guid.as_str().into();
    r.cafe = true;
    r.total_ms = rng.range32(4, 120);
    r.req_bytes = rng.range32(300, 4000);
    r.resp_bytes = rng.range32(200, 30_000);
    r
}

/// A benign request for `proto` ending at `ts`.
pub(crate) fn benign<'a>(ctx: &'a Ctx, rng: &mut Rng, proto: Proto, ts: i64) -> Req<'a> {
    if rng.chance(4) {
        return probe(ctx, rng, proto, ts);
    }
    if proto == Proto::PowerShell {
        return powershell(ctx, rng, ts);
    }
    let u = rng.pick(&ctx.users);
    let mut r = base(ctx, rng, proto, ts, u);
    match proto {
        Proto::Mapi => {
            r.method = "POST".into();
            r.auth_type = "Negotiate".into();
            r.ua = u.outlook_ua.into();
            r.client_rid = Some(rng.guid());
            if rng.chance(12) {
                r.stem = "/mapi/nspi/".into();
                r.action = (*rng.pick(&["Bind", "QueryRows", "GetMatches", "DNToMId"])).into();
            } else {
                r.stem = "/mapi/emsmdb/".into();
                r.action = (*rng.pick(MAPI_ACTIONS)).into();
                if r.action == "NotificationWait" {
                    r.total_ms = rng.range32(30_000, 900_000);
                }
            }
            r.query = u.mapi_query.as_str().into();
            r.anchor = u.anchor_sid.as_str().into();
            challenge(rng, &mut r, 6);
        }
        Proto::RpcHttp => {
            r.method = (*rng.pick(&["RPC_IN_DATA", "RPC_OUT_DATA"])).into();
            r.stem = "/rpc/rpcproxy.dll".into();
            r.query = u.rpc_query.as_str().into();
            r.auth_type = "NTLM".into();
            r.ua = "MSRPC".into();
            r.routing_hint = "RpcHttp-ServerName".into();
            r.anchor = "".into();
            r.total_ms = rng.range32(1000, 900_000);
            r.req_bytes = 1_073_741_824;
            challenge(rng, &mut r, 10);
        }
        Proto::Ews => {
            r.method = "POST".into();
            r.stem = "/EWS/Exchange.asmx".into();
            r.auth_type = "Negotiate".into();
            match rng.below(10) {
                0..=4 => r.ua = u.outlook_ua.into(),
                5 | 6 => {
                    r.ua = TEAMS_EWS_UA.into();
                    r.auth_type = "OAuth".into();
                }
                7 => r.ua = LOB_EWS_UA.into(),
                _ => r.ua = ctx.uas.mac_outlook.into(),
            }
            r.action = (*rng.pick(&[
                "GetUserAvailability",
                "FindItem",
                "GetItem",
                "SyncFolderItems",
                "GetUserPhoto",
                "Subscribe",
            ]))
            .into();
            challenge(rng, &mut r, 5);
        }
        Proto::Eas => {
            r.method = "POST".into();
            r.stem = "/Microsoft-Server-ActiveSync/default.eas".into();
            r.auth_type = "Basic".into();
            r.ua = u.eas_ua.into();
            r.client_ip = crate::ctx::REVERSE_PROXY_IP.into();
            let k = rng.weighted(&[50, 35, 10, 5]);
            r.query = u.eas_query[k].as_str().into();
            r.action = ["Sync", "Ping", "FolderSync", "SendMail"][k].into();
            if k == 1 {
                r.total_ms = rng.range32(60_000, 1_740_000);
            }
        }
        Proto::Autodiscover => {
            if rng.chance(45) {
                // Outlook and the mobile apps: anonymous JSON autodiscover by e-mail address.
                r.method = "GET".into();
                r.stem = u.autod_json_stem.as_str().into();
                r.query = (*rng.pick(&[
                    "Protocol=AutodiscoverV1",
                    "Protocol=AutodiscoverV1&RedirectCount=1",
                    "Protocol=ActiveSync",
                    "Protocol=Ews",
                ]))
                .into();
                r.ua = if rng.chance(70) { u.outlook_ua } else { u.eas_ua }.into();
                r.auth_type = "".into();
                r.authenticated = false;
                r.user = "".into();
                r.anchor = u.anchor_smtp.as_str().into();
                r.routing_hint = "Smtp-UrlAnchorMailbox".into();
                r.resp_bytes = rng.range32(150, 400);
            } else {
                r.method = "POST".into();
                r.stem = "/Autodiscover/Autodiscover.xml".into();
                r.auth_type = "Negotiate".into();
                r.ua = u.outlook_ua.into();
                challenge(rng, &mut r, 15);
            }
        }
        Proto::Oab => {
            r.method = "GET".into();
            r.stem = ctx.oab_stems[rng.below(2) as usize].as_str().into();
            r.auth_type = "Negotiate".into();
            r.ua = u.outlook_ua.into();
            r.routing_type = "Server".into();
            r.routing_hint = "OABGuid-Url".into();
            r.anchor = format!("OAB~{}", ctx.oab_guid).into();
            challenge(rng, &mut r, 10);
        }
        Proto::Owa => owa(ctx, rng, &mut r, u),
        Proto::Ecp => ecp(ctx, rng, &mut r, u),
        Proto::PowerShell => unreachable!("handled above"),
    }
    r
}

/// A share of Negotiate/NTLM requests first get the 401 challenge.
fn challenge(rng: &mut Rng, r: &mut Req<'_>, pct: u64) {
    if rng.chance(pct) {
        r.status = 401;
        r.backend_status = 0;
        r.authenticated = false;
        r.user = "".into();
        r.target = "".into();
        r.iis_substatus = 1;
        r.iis_win32 = 2_148_074_254;
        r.total_ms = rng.range32(0, 3);
        r.resp_bytes = rng.range32(0, 400);
    } else {
        r.backend_status = r.status;
    }
}

fn owa<'a>(ctx: &'a Ctx, rng: &mut Rng, r: &mut Req<'a>, u: &'a crate::ctx::User) {
    r.ua = u.browser_ua.into();
    r.auth_type = "FBA".into();
    r.referer = "https://mail.contoso.com/owa/".into();
    match rng.weighted(&[6, 5, 4, 6, 55, 14, 10]) {
        0 => {
            // Not yet logged on: redirected to the logon form, served by the front end.
            r.stem = "/owa/".into();
            r.status = 302;
            anonymous(r);
            r.referer = "".into();
        }
        1 => {
            r.stem = "/owa/auth/logon.aspx".into();
            r.query = "url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0".into();
            anonymous(r);
        }
        2 => {
            r.method = "POST".into();
            r.stem = "/owa/auth.owa".into();
            r.status = 302;
            r.target = "".into();
            r.cafe = true;
            r.authenticated = true;
            r.referer =
                "https://mail.contoso.com/owa/auth/logon.aspx?url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0"
                    .into();
        }
        3 => {
            r.stem = if rng.chance(50) { ctx.owa_logon_css.as_str() } else { ctx.owa_prem_css.as_str() }.into();
            anonymous(r);
            r.cafe = false;
            r.resp_bytes = rng.range32(2_000, 90_000);
        }
        4 => {
            r.method = "POST".into();
            r.stem = "/owa/service.svc".into();
            let action = *rng.pick(OWA_ACTIONS);
            r.action = action.into();
            r.query = format!("action={action}&EP=1&ID=-{}&AC=1", rng.range(1, 99)).into();
            r.client_rid = Some(rng.guid());
            r.backend_status = 200;
        }
        5 => {
            r.stem = "/owa/ev.owa2".into();
            r.query = format!(
                "ns=PendingRequest&ev=PendingNotificationRequest&UA=0&sessionid={}",
                crate::render::guid_str(&rng.guid())
            )
            .into();
            r.total_ms = rng.range32(20_000, 600_000);
            r.backend_status = 200;
        }
        _ => {
            r.method = "POST".into();
            r.stem = "/owa/sessiondata.ashx".into();
            r.query = "appcacheclient=0".into();
            r.backend_status = 200;
        }
    }
}

fn anonymous(r: &mut Req<'_>) {
    r.authenticated = false;
    r.user = "".into();
    r.anchor = "".into();
    r.target = "".into();
    r.backend_status = 0;
    r.routing_type = "".into();
    r.routing_hint = "".into();
    r.database_guid = "".into();
    r.user_guid = "".into();
}

fn ecp<'a>(ctx: &'a Ctx, rng: &mut Rng, r: &mut Req<'a>, u: &'a crate::ctx::User) {
    r.ua = u.browser_ua.into();
    r.auth_type = "FBA".into();
    r.referer = "https://mail.contoso.com/ecp/".into();
    r.backend_status = 200;
    match rng.weighted(&[30, 25, 20, 25]) {
        0 => {
            // Users in their own options pages.
            r.stem = "/ecp/PersonalSettings/HomePage.aspx".into();
            r.query = "showhelp=false".into();
        }
        1 => {
            r.method = "POST".into();
            r.stem = "/ecp/RulesEditor/InboxRules.svc/GetList".into();
            r.query = format!("msExchEcpCanary={}", ctx.canary).into();
        }
        2 => {
            r.stem = ctx.ecp_static.as_str().into();
            anonymous(r);
            r.cafe = false;
        }
        _ => {
            // An administrator in the admin center.
            let a = rng.pick(&ctx.admins);
            r.user = a.dom_user.as_str().into();
            r.anchor = a.anchor_smtp.as_str().into();
            r.client_ip = a.ip.into();
            r.method = "POST".into();
            r.stem = "/ecp/DDI/DDIService.svc/GetList".into();
            let schema = *rng.pick(&["MailboxService", "DistributionGroup", "MailboxDatabases", "ServersService"]);
            r.query = format!("schema={schema}&msExchEcpCanary={}", ctx.canary).into();
        }
    }
}

fn powershell<'a>(ctx: &'a Ctx, rng: &mut Rng, ts: i64) -> Req<'a> {
    let a = rng.pick(&ctx.admins);
    let mut r = Req::new(ts, rng.guid(), Proto::PowerShell);
    r.method = "POST".into();
    r.stem = "/powershell".into();
    let local = rng.chance(30);
    r.query = if local { &ctx.ps_query_local } else { &ctx.ps_query }.as_str().into();
    r.client_ip = if local { SERVER_IP } else { a.ip }.into();
    r.auth_type = "Kerberos".into();
    r.authenticated = true;
    r.user = a.dom_user.as_str().into();
    r.anchor = format!("Sid~{}", a.sid).into();
    r.ua = WINRM_UA.into();
    r.target = ctx.fqdn_lc.as_str().into();
    r.routing_type = "Server".into();
    r.routing_hint = "Sid-UserToken".into();
    r.backend_status = 200;
    r.cafe = true;
    r.total_ms = rng.range32(20, 4000);
    r.req_bytes = rng.range32(2000, 12_000);
    r.resp_bytes = rng.range32(1000, 60_000);
    r.generic_extra =
        "OnEndRequest.End.ContentType=application/soap+xml charset UTF-8;S:ServiceCommonMetadata.HttpMethod=POST;"
            .into();
    r
}

/// Managed Availability: the server probes its own endpoints with a health mailbox.
fn probe<'a>(ctx: &'a Ctx, rng: &mut Rng, proto: Proto, ts: i64) -> Req<'a> {
    let h = rng.pick(&ctx.health);
    let mut r = Req::new(ts, rng.guid(), proto);
    r.client_ip = SERVER_IP.into();
    r.ua = PROBE_UA.into();
    r.user = h.dom_user.as_str().into();
    r.authenticated = true;
    r.anchor = h.anchor.as_str().into();
    r.target = ctx.fqdn_lc.as_str().into();
    r.routing_type = "Database".into();
    r.routing_hint = "Smtp-UrlAnchorMailbox".into();
    r.backend_status = 200;
    r.cafe = true;
    r.total_ms = rng.range32(5, 60);
    r.req_bytes = rng.range32(200, 2000);
    r.resp_bytes = rng.range32(200, 5000);
    r.auth_type = "Basic".into();
    let (method, stem) = match proto {
        Proto::Autodiscover => ("POST", "/Autodiscover/Autodiscover.xml"),
        Proto::Ecp => ("GET", "/ecp/"),
        Proto::Ews => ("POST", "/EWS/Exchange.asmx"),
        Proto::Mapi => ("POST", "/mapi/emsmdb/"),
        Proto::Owa => ("GET", "/owa/"),
        Proto::PowerShell => ("POST", "/powershell"),
        Proto::RpcHttp => ("RPC_IN_DATA", "/rpc/rpcproxy.dll"),
        Proto::Eas => ("POST", "/Microsoft-Server-ActiveSync/default.eas"),
        Proto::Oab => ("GET", "/OAB/"),
    };
    r.method = method.into();
    r.stem = stem.into();
    if proto == Proto::Eas {
        r.query = "Cmd=FolderSync&User=HealthMailbox&DeviceId=ProbeDevice&DeviceType=EASProbeDeviceType".into();
    }
    r
}

/// A benign request as the back end (`Exchange Back End`, W3SVC2, port 444) logs it: only
/// requests the front end proxied, arriving from the server itself.
pub(crate) fn backend<'a>(ctx: &'a Ctx, rng: &mut Rng, ts: i64) -> Req<'a> {
    loop {
        if rng.chance(3) {
            // The back end's own probe and the admins' sessions as the PowerShell vdir sees them.
            let mut r = powershell(ctx, rng, ts);
            r.query = "".into();
            r.cafe = false;
            if rng.chance(50) {
                r.ua = "Exchange BackEnd Probes".into();
                r.user = "".into();
            }
            r.client_ip = SERVER_IP.into();
            return r;
        }
        let proto = pick_proto(rng);
        let mut r = benign(ctx, rng, proto, ts);
        if r.target.is_empty() {
            continue;
        }
        r.client_ip = SERVER_IP.into();
        r.referer = "".into();
        if proto == Proto::Eas {
            r.stem = "/Microsoft-Server-ActiveSync/Proxy/default.eas".into();
        }
        if r.total_ms > 10 {
            r.total_ms -= rng.range32(1, 8);
        }
        return r;
    }
}
