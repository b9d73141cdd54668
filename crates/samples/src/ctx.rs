//! The simulated organisation: one Exchange server, its users, admins, devices and health
//! mailboxes. Everything is derived from the seed, and the per-user strings benign traffic needs
//! are built once here so the hot loop only borrows them.

use crate::model::Build;
use crate::rng::{HEX_LOWER, HEX_UPPER, Rng};

pub(crate) const DOMAIN: &str = "CONTOSO";
pub(crate) const MAIL_HOST: &str = "mail.contoso.com";
pub(crate) const SERVER_IP: &str = "10.0.0.5";
/// The reverse proxy in front of the server: mobile and home-office traffic arrives from it.
pub(crate) const REVERSE_PROXY_IP: &str = "10.0.1.10";

/// Which generation of client software the users run (the user-agent strings age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    Y2021,
    Y2023,
}

pub(crate) struct Uas {
    pub outlook: &'static [&'static str],
    pub browser: &'static [&'static str],
    pub mac_outlook: &'static str,
    pub iphone: &'static [&'static str],
    pub android: &'static [&'static str],
}

const UAS_2021: Uas = Uas {
    outlook: &[
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13628; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.13801; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5122; Pro)",
    ],
    browser: &[
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.190 Safari/537.36 Edg/88.0.705.81",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0",
        "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
    ],
    mac_outlook: "MacOutlook/16.46.21021202 (Intelx64 Mac OS X 11.2.1 (Build 20D74))",
    iphone: &["Apple-iPhone12C1/1804.73", "Apple-iPhone11C8/1803.102", "Outlook-iOS/2.0"],
    android: &["Android-Mail/2021.01.24.355050498.Release", "Outlook-Android/2.0"],
};

const UAS_2023: Uas = Uas {
    outlook: &[
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15928; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15831; Pro)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5378; Pro)",
    ],
    browser: &[
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 Edg/108.0.1462.76",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:108.0) Gecko/20100101 Firefox/108.0",
    ],
    mac_outlook: "MacOutlook/16.68.22121100 (Intelx64 Mac OS X 13.1 (Build 22C65))",
    iphone: &["Apple-iPhone14C5/2002.220", "Apple-iPhone13C2/2002.220", "Outlook-iOS/2.0"],
    android: &["Outlook-Android/2.0", "Android-Mail/2022.12.11.497030371.Release"],
};

const FIRST: &[&str] = &[
    "John", "Maria", "Ahmed", "Sofia", "Peter", "Anna", "Lars", "Ines", "Tom", "Eva", "Jan", "Lea", "Omar", "Nina",
    "Paul", "Sara", "Ivan", "Mia", "Ben", "Zoe",
];
const LAST: &[&str] = &[
    "Doe", "Garcia", "Khan", "Rossi", "Jansen", "Novak", "Berg", "Costa", "Meyer", "Dubois", "Smith", "Larsen",
    "Haddad", "Weber", "Silva", "Kowalski",
];

pub(crate) struct User {
    pub upn: String,
    /// `CONTOSO\jdoe`
    pub dom_user: String,
    pub ip: String,
    pub anchor_smtp: String,
    pub anchor_sid: String,
    pub sid: String,
    pub guid: String,
    pub db_guid: String,
    pub mapi_query: String,
    pub rpc_query: String,
    pub autod_json_stem: String,
    pub eas_query: [String; 4],
    pub eas_ua: &'static str,
    pub outlook_ua: &'static str,
    pub browser_ua: &'static str,
}

pub(crate) struct Admin {
    pub sam: String,
    pub dom_user: String,
    pub sid: String,
    pub ip: &'static str,
    pub anchor_smtp: String,
}

pub(crate) struct Health {
    pub dom_user: String,
    pub anchor: String,
}

pub(crate) struct Ctx {
    pub host: String,
    /// `EXCH01.contoso.local`
    pub fqdn: String,
    /// `exch01.contoso.local`
    pub fqdn_lc: String,
    pub build: Build,
    pub build_dotted: String,
    pub build_padded: String,
    /// Windows install path with the trailing backslash (`C:\Program Files\...\V15\`).
    pub exi: String,
    pub uas: &'static Uas,
    pub users: Vec<User>,
    pub admins: Vec<Admin>,
    pub health: Vec<Health>,
    pub canary: String,
    pub oab_guid: String,
    pub oab_vdir_guid: String,
    pub domain_sid: String,
    pub owa_logon_css: String,
    pub owa_prem_css: String,
    pub ecp_static: String,
    pub ps_query: String,
    pub ps_query_local: String,
    pub oab_stems: [String; 2],
    pub machine_account: String,
}

impl Ctx {
    pub(crate) fn new(host: &str, build: Build, exi: &str, era: Era, seed: u64) -> Ctx {
        let mut rng = Rng::derive(seed, "ctx");
        let fqdn = format!("{host}.contoso.local");
        let domain_sid = format!(
            "S-1-5-21-{}-{}-{}",
            rng.range(1_000_000_000, 3_999_999_999),
            rng.range(1_000_000_000, 3_999_999_999),
            rng.range(1_000_000_000, 3_999_999_999)
        );
        let uas: &'static Uas = match era {
            Era::Y2021 => &UAS_2021,
            Era::Y2023 => &UAS_2023,
        };
        let dbs = [rng.guid_string(), rng.guid_string()];
        let mut users = Vec::new();
        let mut taken = std::collections::HashSet::new();
        while users.len() < 48 {
            let first = *rng.pick(FIRST);
            let last = *rng.pick(LAST);
            let sam = format!("{}{}", first[..1].to_ascii_lowercase(), last.to_ascii_lowercase());
            if !taken.insert(sam.clone()) {
                continue;
            }
            let i = users.len() as u32;
            let upn = format!("{}.{}@contoso.com", first.to_ascii_lowercase(), last.to_ascii_lowercase());
            // Some users work from home: their traffic comes through the reverse proxy.
            let ip = if rng.chance(20) {
                REVERSE_PROXY_IP.to_string()
            } else {
                format!("10.0.{}.{}", 2 + i / 40, 20 + (i % 40) * 5 + rng.range32(0, 4))
            };
            let sid = format!("{domain_sid}-{}", 1104 + i * 3);
            let mbx = rng.guid_string();
            let device = rng.token(32, HEX_UPPER);
            let iphone = rng.chance(60);
            let (dtype, eas_ua) =
                if iphone { ("iPhone", *rng.pick(uas.iphone)) } else { ("Android", *rng.pick(uas.android)) };
            let outlook_ua: &'static str = if rng.chance(8) { uas.mac_outlook } else { rng.pick::<&str>(uas.outlook) };
            let browser_ua: &'static str = rng.pick::<&str>(uas.browser);
            let eas = |cmd: &str| format!("Cmd={cmd}&User={sam}&DeviceId={device}&DeviceType={dtype}");
            users.push(User {
                dom_user: format!("{DOMAIN}\\{sam}"),
                anchor_smtp: format!("Smtp~{upn}"),
                anchor_sid: format!("Sid~{sid}"),
                guid: rng.guid_string(),
                db_guid: dbs[(i % 2) as usize].clone(),
                mapi_query: format!("MailboxId={mbx}@contoso.com"),
                rpc_query: format!("{mbx}@contoso.com:6001"),
                autod_json_stem: format!("/autodiscover/autodiscover.json/v1.0/{upn}"),
                eas_query: [eas("Sync"), eas("Ping"), eas("FolderSync"), eas("SendMail")],
                eas_ua,
                outlook_ua,
                browser_ua,
                sid,
                upn,
                ip,
            });
        }
        let admins = [("exadmin", "10.0.5.10"), ("adm.lberg", "10.0.5.11")]
            .iter()
            .enumerate()
            .map(|(i, (sam, ip))| {
                let upn = format!("{sam}@contoso.com");
                Admin {
                    sam: sam.to_string(),
                    dom_user: format!("{DOMAIN}\\{sam}"),
                    anchor_smtp: format!("Smtp~{upn}"),
                    sid: format!("{domain_sid}-{}", 1001 + i),
                    ip,
                }
            })
            .collect();
        let health = (0..3)
            .map(|_| {
                let name = format!("HealthMailbox{}", rng.token(32, HEX_LOWER));
                Health { dom_user: format!("{DOMAIN}\\{name}"), anchor: format!("Smtp~{name}@contoso.local") }
            })
            .collect();
        let canary = format!("{}.", rng.token(43, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"));
        let oab_guid = rng.guid_string();
        let b3 = build.three();
        Ctx {
            host: host.to_string(),
            fqdn_lc: fqdn.to_ascii_lowercase(),
            fqdn,
            build_dotted: build.dotted(),
            build_padded: build.padded(),
            build,
            exi: exi.to_string(),
            uas,
            users,
            admins,
            health,
            canary,
            oab_stems: [
                format!("/OAB/{oab_guid}/oab.xml"),
                format!("/OAB/{oab_guid}/{}-data-1.lzx", rng.guid_string()),
            ],
            oab_guid,
            oab_vdir_guid: rng.guid_string(),
            domain_sid,
            owa_logon_css: format!("/owa/auth/{b3}/themes/resources/logon.css"),
            owa_prem_css: format!("/owa/prem/{}/resources/styles/0/boot.worldwide.0.mouse.css", build.dotted()),
            ecp_static: format!("/ecp/{}/themes/resources/ecpstyles.css", build.dotted()),
            ps_query: format!(
                "serializationLevel=Full;ExchClientVer={};clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.17763.1490",
                build.dotted()
            ),
            ps_query_local: format!(
                "serializationLevel=Full;ExchClientVer={};clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.14393.4046",
                build.dotted()
            ),
            machine_account: format!("{DOMAIN}\\{host}$"),
        }
    }

    /// `S-1-5-21-…-500`, the built-in Administrator (the SID ProxyLogon impersonated).
    pub(crate) fn admin500_sid(&self) -> String {
        format!("{}-500", self.domain_sid)
    }
}
