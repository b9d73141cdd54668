//! End-to-end tests of one host's hunt over hand-written fixtures: verdicts, correlation,
//! coverage, build and the robustness cases (damaged, truncated, binary, bomb).

mod fixtures;

use std::io::Write;

use fixtures::*;
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host};
use taskforce_report::{Severity, Stage, Verdict};
use taskforce_rules::RuleSet;

fn hunt(dir: &std::path::Path) -> taskforce_hunt::HostReport {
    let ev = Evidence::open(dir).expect("evidence opens");
    hunt_host(&ev, &RuleSet::builtin(), Options::default())
}

#[test]
fn proxylogon_chain_is_compromised_with_a_linked_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        &format!("{EXI}/Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG"),
        &httpproxy(&[
            proxy_row("2021-03-03T04:20:00.000Z", "/owa/", "SMTP:jane@contoso.com", "10.0.0.7", "200", "Mozilla/5.0"),
            proxy_row(
                "2021-03-03T04:21:02.000Z",
                "/ecp/y.js",
                "ServerInfo~a]@EXCH01.contoso.local:444/mapi/emsmdb/?#",
                ATTACKER,
                "200",
                "ExchangeServicesClient/0.0.0.0",
            ),
            proxy_row(
                "2021-03-03T04:21:12.000Z",
                "/ecp/y.js",
                "ServerInfo~a]@EXCH01.contoso.local:444/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory&msExchEcpCanary=AbC.#",
                ATTACKER,
                "200",
                "ExchangeServicesClient/0.0.0.0",
            ),
        ]),
    );
    write(
        root,
        &format!("{EXI}/Logging/OABGeneratorLog/OABGenerator_2021030304-1.LOG"),
        "2021-03-03T04:22:01.123Z,12,Info,Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\supp0rt.aspx' needs to be removed.\r\n",
    );
    write(
        root,
        &format!("{EXI}/Logging/ECP/Server/ECPServer20210303-1.LOG"),
        &ecp(&["2021-03-03T04:00:00.000Z,EXCH01,ECP.Request,\"S:TIME=10;S:CMD=Get-Mailbox.Identity='x';S:RS=0\""]),
    );
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log",
        &iis(&[
            "2021-03-03 04:20:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
            "2021-03-03 05:02:11 10.0.0.5 POST /aspnet_client/supp0rt.aspx - 443 - 203.0.113.45 antSword/v2.1 - 200 0 0 15",
        ]),
    );
    let r = hunt(root);
    let h = &r.host;
    assert_eq!(h.verdict, Verdict::Compromised, "{}", h.reason);
    assert_eq!(h.name, "EXCH01");
    assert_eq!(h.exchange_build.as_deref(), Some("15.1.2176.2"));
    let rules: Vec<&str> = h.findings.iter().map(|f| f.rule.as_str()).collect();
    for expected in ["TF-PL-01", "TF-PL-06"] {
        assert!(rules.contains(&expected), "{expected} missing from {rules:?}");
    }
    // The request to the written web shell is one linked finding, critical, stage web shell.
    let shell = h
        .findings
        .iter()
        .find(|f| f.detail.contains_key("written_by"))
        .unwrap_or_else(|| panic!("no finding linked to the write: {rules:?}"));
    assert_eq!(shell.severity, Severity::Critical);
    assert_eq!(shell.stage, Stage::Webshell);
    assert_eq!(shell.detail["written_by"]["write_rule"], "TF-PL-06");
    // Timeline order: exploit before write before web shell use.
    let pos = |pred: &dyn Fn(&taskforce_report::Finding) -> bool| h.findings.iter().position(pred).unwrap();
    assert!(pos(&|f| f.rule == "TF-PL-01") < pos(&|f| f.rule == "TF-PL-06"));
    assert!(pos(&|f| f.rule == "TF-PL-06") < pos(&|f| f.detail.contains_key("written_by")));
    assert!(h.reason.contains(ATTACKER), "{}", h.reason);
    let proxylogon = h.patch.iter().find(|p| p.family == "ProxyLogon").unwrap();
    assert_eq!(proxylogon.status, "vulnerable");
    assert_eq!(proxylogon.fixed_in.as_deref(), Some("15.1.2176.9"));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped.iter().map(|s| &s.path).collect::<Vec<_>>());
}

#[test]
fn false_positive_traps_stay_clean_and_scans_are_info() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        &format!("{EXI}/Logging/HttpProxy/Owa/HttpProxy_2021030304-1.LOG"),
        &httpproxy(&[
            proxy_row(
                "2021-03-07T15:04:04.546Z",
                "/owa/auth/x.js",
                "ServerInfo~localhost/ecp/default.flt?",
                "198.51.100.9",
                "500",
                "Mozilla/5.0",
            ),
            proxy_row(
                "2021-03-07T15:05:00.000Z",
                "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application",
                "ServerVersion~Version 15.0 (Build 0.0)",
                "198.51.100.10",
                "200",
                "Mozilla/5.0 zgrab/0.x",
            ),
            proxy_row(
                "2021-03-07T16:00:00.000Z",
                "/autodiscover/autodiscover.json",
                "SMTP:jane@contoso.com",
                "10.0.0.7",
                "200",
                "Microsoft Office/16.0",
            ),
        ]),
    );
    write(
        root,
        &format!("{EXI}/Logging/OABGeneratorLog/OABGenerator_2021030304-1.LOG"),
        "2021-03-07T04:22:01.123Z,12,Info,Download failed and temporary file 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\a.tmp' needs to be removed.\r\n",
    );
    write(
        root,
        &format!("{EXI}/Logging/ECP/Server/ECPServer20210307-1.LOG"),
        &ecp(&[
            "2021-03-07T09:00:00.000Z,EXCH01,ECP.Request,\"S:TIME=10;S:CMD=Set-OabVirtualDirectory.ExternalUrl='https://mail.contoso.com/OAB'.Identity='EXCH01\\OAB (Default Web Site)';S:RS=0\"",
        ]),
    );
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210307.log",
        &iis(&[
            "2021-03-07 04:20:00 10.0.0.5 GET /owa/auth/Current/themes/resources/logon.css - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
            "2021-03-07 04:21:00 10.0.0.5 GET /owa/ &Email=autodiscover/autodiscover.json%3F@test.com&ClientId=AAA 443 - 198.51.100.11 Mozilla/5.0+(Nessus) - 401 0 0 15",
        ]),
    );
    let r = hunt(root);
    let h = &r.host;
    assert_eq!(h.verdict, Verdict::Clean, "{}\n{:#?}", h.reason, h.findings);
    assert!(h.findings.iter().all(|f| f.severity <= Severity::Low), "{:#?}", h.findings);
    assert!(h.findings.iter().any(|f| f.stage == Stage::Scan), "scanner probes are reported as scan findings");
    assert_eq!(h.coverage.len(), 4);
}

#[test]
fn autodiscover_only_ssrf_is_attempted_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Logging/HttpProxy/Autodiscover/HttpProxy_2021030304-1.LOG",
        &httpproxy(&[proxy_row(
            "2021-03-03T04:21:02.000Z",
            "/ecp/y.js",
            "ServerInfo~a]@EXCH02.contoso.local:444/autodiscover/autodiscover.xml?#",
            ATTACKER,
            "500",
            "python-requests/2.25.1",
        )]),
    );
    let h = hunt(dir.path()).host;
    assert_eq!(h.verdict, Verdict::Attempted, "{}", h.reason);
    assert!(h.findings.iter().any(|f| f.rule == "TF-PL-01-AUTODISCOVER"));
}

#[test]
fn missing_logs_make_nothing_found_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "C/inetpub/logs/LogFiles/W3SVC1/u_ex210307.log",
        &iis(&["2021-03-07 04:20:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15"]),
    );
    let h = hunt(dir.path()).host;
    assert_eq!(h.verdict, Verdict::Inconclusive);
    assert!(h.reason.contains("HttpProxy") && h.reason.contains("ECP"), "{}", h.reason);
}

#[test]
fn damaged_inputs_are_skipped_and_the_rest_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("EXCH03.zip");
    let good_proxy = httpproxy(&[proxy_row(
        "2021-03-03T04:21:02.000Z",
        "/ecp/y.js",
        "ServerInfo~a]@EXCH03.contoso.local:444/ecp/proxyLogon.ecp?#",
        ATTACKER,
        "241",
        "python-requests/2.25.1",
    )]);
    // Exchange 2013's header has an empty column name; the row must still map by name.
    let header_2013 = "#Software: Microsoft Exchange Server\r\n#Version: 15.00.1497.002\r\n#Log-type: HttpProxy Logs\r\n#Date: 2021-03-03T00:00:00.000Z\r\n#Fields: DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,,TargetServerVersion,RoutingHint,BackEndCookie\r\n2021-03-04T01:00:00.000Z,r1,15,0,1497,2,,Ecp,/ecp/y.js,,,false,,,ServerInfo~a]@EXCH03:444/mapi/emsmdb/?#,python-requests/2.25.1,203.0.113.45,EXCH03,200,200,,POST,Proxy,ex,,15.00.1497.000,X-BEResource-Cookie,\r\n";
    let truncated = format!(
        "{}2021-03-05T01:00:00.000Z,r9,15,1,2176,2,,Ecp,mail.contoso.com,/ecp/y.js,,FBA,false,,,ServerInfo~a]@EXCH",
        good_proxy
    );
    let file = std::fs::File::create(&zip_path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let deflate = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let add = |zip: &mut zip::ZipWriter<std::fs::File>, name: &str, data: &[u8]| {
        zip.start_file(name, deflate).unwrap();
        zip.write_all(data).unwrap();
    };
    add(&mut zip, &format!("C/{EXI}/Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG"), good_proxy.as_bytes());
    add(&mut zip, &format!("C/{EXI}/Logging/HttpProxy/Mapi/HttpProxy_2021030401-1.LOG"), header_2013.as_bytes());
    add(&mut zip, &format!("C/{EXI}/Logging/HttpProxy/Owa/HttpProxy_2021030501-1.LOG"), truncated.as_bytes());
    add(
        &mut zip,
        &format!("C/{EXI}/Logging/HttpProxy/Ews/HttpProxy_2021030601-1.LOG"),
        &[0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0, 0xff, 0xff],
    );
    add(&mut zip, &format!("C/{EXI}/Logging/HttpProxy/Eas/HttpProxy_2021030701-1.LOG"), &vec![b'A'; 10 << 20]);
    add(&mut zip, "C/../../etc/HttpProxy_evil.LOG", b"x");
    let damaged_name = format!("C/{EXI}/Logging/HttpProxy/Oab/HttpProxy_2021030801-1.LOG");
    let mut damaged_body = good_proxy.repeat(40);
    damaged_body.push_str("tail");
    add(&mut zip, &damaged_name, damaged_body.as_bytes());
    zip.finish().unwrap();
    corrupt_member(&zip_path, &damaged_name);

    let r = hunt(&zip_path);
    let reasons: Vec<String> = r.skipped.iter().map(|s| format!("{} => {}", s.path, s.reason)).collect();
    let skipped_with = |needle: &str, why: &str| {
        assert!(
            r.skipped.iter().any(|s| s.path.contains(needle) && s.reason.contains(why)),
            "expected {needle} skipped for {why:?}; skipped: {reasons:#?}"
        )
    };
    skipped_with("HttpProxy_2021030601-1.LOG", "binary");
    skipped_with("HttpProxy_2021030701-1.LOG", "zip bomb");
    skipped_with("etc/HttpProxy_evil.LOG", "path traversal");
    skipped_with("HttpProxy_2021030801-1.LOG", "read error");
    assert!(r.skipped.iter().all(|s| s.path.starts_with(&zip_path.display().to_string())));
    let h = &r.host;
    assert_eq!(h.verdict, Verdict::Attempted, "{}", h.reason);
    assert_eq!(h.name, "EXCH01", "the name most of its logs give");
    // The 2013 file (empty column name) was read and mapped by name.
    assert!(h.findings.iter().any(|f| f.source.contains("2021030401") && f.rule == "TF-PL-01"), "{:#?}", h.findings);
    // The truncated file's complete rows were read; its cut-off last row does not crash anything.
    assert!(h.findings.iter().any(|f| f.source.contains("2021030501")));
    let proxy = h.coverage.iter().find(|c| c.source == "HttpProxy").unwrap();
    assert!(proxy.files >= 3);
}

#[test]
fn non_default_install_paths_and_moved_logs_are_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    // A log copied out of its folder and renamed: recognised by its header.
    write(
        dir.path(),
        "loose/copied-from-server.log",
        &httpproxy(&[proxy_row(
            "2021-03-03T04:21:02.000Z",
            "/ecp/y.js",
            "ServerInfo~a]@EXCH01.contoso.local:444/mapi/emsmdb/?#",
            ATTACKER,
            "200",
            "python-requests/2.25.1",
        )]),
    );
    write(
        dir.path(),
        "D/Exchange/Logging/ECP/Server/ECPServer20210303-1.LOG",
        &ecp(&[
            "2021-03-03T04:21:15.012Z,EXCH01,ECP.Request,\"S:TIME=188;S:CMD=Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=\"\"JScript\"\" runat=\"\"server\"\">function Page_Load(){eval(Request[\"\"p\"\"],\"\"unsafe\"\");}</script>'.Identity='x';S:RS=0\"",
        ]),
    );
    write(dir.path(), "notes/readme.txt", "collected by the admin\n");
    let h = hunt(dir.path()).host;
    assert_eq!(h.verdict, Verdict::Compromised, "{}", h.reason);
    assert!(h.findings.iter().any(|f| f.rule == "TF-PL-04"), "{:#?}", h.findings);
    assert!(h.findings.iter().any(|f| f.rule == "TF-PL-01"));
}

#[test]
fn iis_header_block_mid_file_remaps_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = iis(&["2021-03-03 04:20:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15"]);
    text.push_str(
        "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2021-03-03 06:00:00\r\n",
    );
    text.push_str("#Fields: date time cs-host s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n");
    text.push_str("2021-03-03 06:01:00 mail.contoso.com 10.0.0.5 POST /aspnet_client/discover.aspx - 443 - 203.0.113.45 antSword/v2.1 - 200 0 0 15\r\n");
    write(dir.path(), "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log", &text);
    let h = hunt(dir.path()).host;
    let f = h
        .findings
        .iter()
        .find(|f| f.rule == "TF-IIS-ASPNETCLIENT-ASPX")
        .expect("web shell request found after the new header");
    assert_eq!(f.line, Some(10));
    assert_eq!(f.detail["c-ip"], "203.0.113.45");
    assert_eq!(h.verdict, Verdict::Compromised);
}

/// Letters and slashes written as percent escapes hide a rule's literal from a search of the raw
/// line; without `--thorough` the hunt still reads such lines (decoded) and the rules match them.
#[test]
fn percent_encoded_literals_are_found_without_thorough() {
    let dir = tempfile::tempdir().unwrap();
    let text = iis(&[
        "2021-03-03 04:20:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
        // Every literal of the rule hidden: `/aspnet_client/` and `.aspx`.
        "2021-03-03 06:01:00 10.0.0.5 POST /%61spnet_client/discover%2Easpx - 443 - 203.0.113.45 Mozilla/5.0 - 200 0 0 15",
        // Another literal in the line, this rule's own one hidden.
        "2021-03-03 06:02:00 10.0.0.5 POST /aspnet%5Fclient/system_web/log.aspx - 443 - 203.0.113.46 Mozilla/5.0 - 200 0 0 15",
        // An escape that decodes to no literal character is left alone.
        "2021-03-03 06:03:00 10.0.0.5 GET /owa/%20x - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15",
    ]);
    write(dir.path(), "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log", &text);
    let h = hunt(dir.path()).host;
    let mut lines: Vec<u64> =
        h.findings.iter().filter(|f| f.rule == "TF-IIS-ASPNETCLIENT-ASPX").filter_map(|f| f.line).collect();
    lines.sort();
    assert_eq!(lines, [6, 7], "{:#?}", h.findings);
    assert_eq!(h.verdict, Verdict::Compromised);
}

#[test]
fn real_iis_log_from_the_corpus_parses() {
    let Some(corpus) = taskforce_corpus::dir("real_iis_log_from_the_corpus_parses") else { return };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(corpus.join("evtx-attack-samples/Tunna_rdp_tunnel_IIS.log"), target.join("u_ex190903.log")).unwrap();
    // An Apache access log is not an IIS log: it must not be misread, and not ignored silently.
    std::fs::copy(
        corpus.join("evtx-attack-samples/web_attack_and_isp_webshell_localhost_access_log.txt"),
        dir.path().join("access_log.txt"),
    )
    .unwrap();
    let r = hunt(dir.path());
    let iis = r.host.coverage.iter().find(|c| c.source == "IIS").expect("IIS coverage");
    assert_eq!(iis.files, 1);
    assert!(iis.first.as_deref().unwrap().starts_with("2019-09-03"), "{:?}", iis.first);
    let listed: Vec<(&str, &str)> = r.skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].0.ends_with("/access_log.txt") && listed[0].1.starts_with("not a log format taskforce reads"));
    assert_eq!(r.host.unreadable_files, 1);
    assert!(r.host.reason.contains("access_log.txt"), "{}", r.host.reason);
}

#[test]
fn gzip_logs_single_files_and_nested_archives() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let dir = tempfile::tempdir().unwrap();
    let log = iis(&[
        "2021-03-03 06:01:00 10.0.0.5 POST /aspnet_client/discover.aspx - 443 - 203.0.113.45 antSword/v2.1 - 200 0 0 15",
    ]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(log.as_bytes()).unwrap();
    let gz_path = dir.path().join("host/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log.gz");
    std::fs::create_dir_all(gz_path.parent().unwrap()).unwrap();
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    write(&dir.path().join("host"), "ProgramData/stuff/backup.zip", "PK");
    let r = hunt(&dir.path().join("host"));
    assert!(r.host.findings.iter().any(|f| f.rule == "TF-IIS-ASPNETCLIENT-ASPX"), "a rotated .gz log is read");
    assert!(r.skipped.iter().any(|s| s.path.ends_with("backup.zip") && s.reason.contains("not opened")));

    // One log file handed over on its own is a host of one file.
    let single = dir.path().join("u_ex210303.log");
    std::fs::write(&single, &log).unwrap();
    let r = hunt(&single);
    assert_eq!(r.host.verdict, Verdict::Compromised);
    assert_eq!(r.host.coverage[0].files, 1);
}

mod event_logs {
    use super::*;
    use taskforce_evtx_writer::{Event, EventData, corrupt_chunk, write_evtx};
    use taskforce_sigma::SigmaSet;

    fn hunt_with(dir: &std::path::Path, sigma: &SigmaSet) -> taskforce_hunt::HostReport {
        let ev = Evidence::open(dir).expect("evidence opens");
        hunt_host(&ev, &RuleSet::builtin(), Options { sigma: Some(sigma), ..Options::default() })
    }

    fn cmdlet(record_id: u64, secs: u64, cmdlet: &str, params: &str) -> Event {
        Event {
            provider: "MSExchange CmdletLogs".into(),
            event_id: 1,
            level: 4,
            channel: "MSExchange Management".into(),
            computer: "EXCH05.contoso.local".into(),
            time: std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            record_id,
            data: EventData::Unnamed(vec![cmdlet.into(), params.into(), "contoso.local/Users/admin".into()]),
        }
    }

    /// 2021-08-21T10:03:10Z
    const T0: u64 = 1_629_540_190;

    #[test]
    fn mailbox_export_to_a_web_folder_in_evtx_is_compromised_and_linked_to_the_requests() {
        let dir = tempfile::tempdir().unwrap();
        let mut events: Vec<Event> = (1..200)
            .map(|i| cmdlet(i, T0 - 86_400 + i * 60, "Get-Mailbox", &format!("-Identity \"user{i}\"")))
            .collect();
        events.push(cmdlet(
            200,
            T0,
            "New-MailboxExportRequest",
            r##"-Mailbox "admin@contoso.com" -IncludeFolders "#Drafts#" -FilePath "\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\shellx.aspx""##,
        ));
        let path = dir.path().join("C/Windows/System32/winevt/Logs/MSExchange Management.evtx");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, write_evtx(&events)).unwrap();
        write(
            dir.path(),
            "C/inetpub/logs/LogFiles/W3SVC1/u_ex210821.log",
            &iis(&[
                "2021-08-21 10:05:00 10.0.0.5 POST /aspnet_client/shellx.aspx - 443 - 203.0.113.99 Mozilla/5.0 - 200 0 0 15",
            ]),
        );
        let r = hunt_with(dir.path(), &SigmaSet::builtin());
        let h = &r.host;
        assert_eq!(h.verdict, Verdict::Compromised, "{}\n{:#?}", h.reason, h.findings);
        let export = h
            .findings
            .iter()
            .find(|f| f.detail.get("channel").is_some_and(|c| c == "MSExchange Management"))
            .expect("a finding from the event log");
        assert_eq!(export.line, Some(200), "line is the EventRecordID");
        assert_eq!(export.time.as_deref(), Some("2021-08-21T10:03:10Z"));
        assert!(export.detail["written_path"].as_str().unwrap().ends_with("shellx.aspx"));
        let linked =
            h.findings.iter().find(|f| f.detail.contains_key("written_by")).expect("request linked to the export");
        assert_eq!(linked.severity, Severity::Critical);
        let ev_cov = h.coverage.iter().find(|c| c.source == "EventLog").unwrap();
        assert_eq!(ev_cov.files, 1);
        assert_eq!(h.name, "EXCH05", "host name from the events' Computer");
        // Ordinary admin cmdlets are not findings.
        assert!(h.findings.iter().all(|f| !f.excerpt.contains("Get-Mailbox")));
    }

    #[test]
    fn damaged_chunk_is_reported_and_the_other_chunks_are_judged() {
        let dir = tempfile::tempdir().unwrap();
        let mut events: Vec<Event> = (1..1500)
            .map(|i| cmdlet(i, T0 - 86_400 + i, "Get-Mailbox", &format!("-Identity \"user{i}\" -ResultSize Unlimited")))
            .collect();
        events.push(cmdlet(
            1500,
            T0,
            "New-MailboxExportRequest",
            r#"-Mailbox "admin@contoso.com" -FilePath "\\localhost\c$\inetpub\wwwroot\aspnet_client\y.aspx""#,
        ));
        let mut bytes = write_evtx(&events);
        corrupt_chunk(&mut bytes, 0);
        std::fs::write(dir.path().join("MSExchange Management.evtx"), bytes).unwrap();
        std::fs::write(dir.path().join("System.evtx"), b"ElfFile\0 but then garbage").unwrap();
        let r = hunt_with(dir.path(), &SigmaSet::builtin());
        assert!(
            r.skipped.iter().any(|s| s.path.ends_with("MSExchange Management.evtx") && s.reason.contains("damaged")),
            "{:?}",
            r.skipped
        );
        assert!(r.skipped.iter().any(|s| s.path.ends_with("System.evtx")), "{:?}", r.skipped);
        assert_eq!(
            r.host.verdict,
            Verdict::Compromised,
            "the export in a later chunk is still found: {}",
            r.host.reason
        );
    }

    #[test]
    fn jsonl_exports_and_user_webserver_rules_over_iis() {
        let dir = tempfile::tempdir().unwrap();
        let export = concat!(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"MSExchange CmdletLogs"}},"EventID":1,"Channel":"MSExchange Management","Computer":"EXCH06","EventRecordID":7,"TimeCreated":{"#attributes":{"SystemTime":"2021-08-21T10:03:10Z"}}},"EventData":{"Data":["New-MailboxExportRequest","-Mailbox \"a@contoso.com\" -FilePath \"\\\\127.0.0.1\\C$\\inetpub\\wwwroot\\aspnet_client\\z.aspx\""]}}}"##,
            "\n"
        );
        write(dir.path(), "exports/msexchange-management.jsonl", export);
        write(
            dir.path(),
            "inetpub/logs/LogFiles/W3SVC1/u_ex210821.log",
            &iis(&["2021-08-21 10:05:00 10.0.0.5 GET /owa/ cmd=whoami 443 - 203.0.113.98 Mozilla/5.0 - 200 0 0 15"]),
        );
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(
            rules.path().join("web.yml"),
            "title: Test web rule\nid: 0f3c3f0e-8a8e-4bb4-9e0f-6a3b2c1d0e01\nlevel: high\ntags: [attack.t1505.003]\nlogsource: {category: webserver}\ndetection:\n  sel:\n    cs-uri-query|contains: 'cmd=whoami'\n  condition: sel\n",
        )
        .unwrap();
        let sigma = SigmaSet::load(true, &[rules.path().to_path_buf()]);
        let r = hunt_with(dir.path(), &sigma);
        let h = &r.host;
        assert!(h.findings.iter().any(|f| f.source.ends_with(".jsonl") && f.line == Some(7)), "{:#?}", h.findings);
        let web = h.findings.iter().find(|f| f.title == "Test web rule").expect("webserver rule over IIS");
        assert_eq!(web.stage, Stage::Webshell);
        assert_eq!(web.severity, Severity::High);
        assert_eq!(h.verdict, Verdict::Compromised);
    }
}

mod files_on_disk {
    use super::*;
    use taskforce_files::{Sweep, SweepConfig};

    const OAB_SHELL: &str = "ExternalUrl : http://f/<script language=\"JScript\" runat=\"server\">function Page_Load(){}</script>\r\nInternalUrl : https://mail.contoso.com/OAB\r\nInternalAuthenticationMethods : {WindowsIntegrated}\r\nExtendedProtectionTokenChecking : None\r\n";

    fn hunt_files(dir: &std::path::Path) -> taskforce_hunt::HostReport {
        let (sweep, problems) = Sweep::load(&SweepConfig::default());
        assert!(problems.is_empty(), "{problems:?}");
        let ev = Evidence::open(dir).unwrap();
        hunt_host(&ev, &RuleSet::builtin(), Options { files: Some(&sweep), ..Options::default() })
    }

    #[test]
    fn a_web_shell_alone_on_disk_is_compromised_and_stock_pages_are_not_findings() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "C/inetpub/wwwroot/aspnet_client/system_web/qwerty.aspx", OAB_SHELL);
        write(
            dir.path(),
            &format!("C/{EXI}/FrontEnd/HttpProxy/owa/auth/logon.aspx"),
            "<%@ Page Language=\"C#\" %><html></html>",
        );
        write(
            dir.path(),
            &format!("C/{EXI}/FrontEnd/HttpProxy/owa/auth/errorFE.aspx"),
            "<%@ Page Language=\"C#\" %><html></html>",
        );
        let r = hunt_files(dir.path());
        let h = &r.host;
        assert_eq!(h.verdict, Verdict::Compromised, "{}", h.reason);
        assert!(h.findings.iter().all(|f| f.source.contains("aspnet_client")), "{:#?}", h.findings);
        assert!(h.findings.iter().any(|f| f.rule.starts_with("TF-FS-04")), "{:#?}", h.findings);
        let files = h.coverage.iter().find(|c| c.source == "Files").unwrap();
        assert_eq!(files.files, 3);
        assert!(h.findings.iter().all(|f| f.time.is_some()), "file times join the timeline");
    }

    #[test]
    fn written_requested_and_on_disk_is_one_story() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &format!("{EXI}/Logging/OABGeneratorLog/OABGenerator_2021030304-1.LOG"),
            "2021-03-03T04:22:01.123Z,12,Info,Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\supp0rt.aspx' needs to be removed.\r\n",
        );
        write(
            dir.path(),
            "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log",
            &iis(&[
                "2021-03-03 05:02:11 10.0.0.5 POST /aspnet_client/supp0rt.aspx - 443 - 203.0.113.45 Mozilla/5.0 - 200 0 0 15",
            ]),
        );
        write(dir.path(), "inetpub/wwwroot/aspnet_client/supp0rt.aspx", OAB_SHELL);
        let h = hunt_files(dir.path()).host;
        assert_eq!(h.verdict, Verdict::Compromised);
        let write_finding = h.findings.iter().find(|f| f.rule == "TF-PL-06").unwrap();
        let on_disk = write_finding.detail["on_disk"].as_array().expect("the file folded into the write");
        assert!(on_disk.iter().any(|d| d["rule"].as_str().unwrap().starts_with("TF-FS-04")));
        assert!(h.findings.iter().all(|f| f.line.is_some()), "no separate file finding: {:#?}", h.findings);
        assert!(h.findings.iter().any(|f| f.detail.contains_key("written_by")), "the request is linked too");
    }

    #[test]
    fn a_staging_archive_alone_is_at_most_low_and_huge_files_are_skipped_by_size() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "C/ProgramData/McAfee/Common Framework/Backup/b.zip", "PK");
        let big = dir.path().join("C/inetpub/wwwroot/aspnet_client/huge.aspx");
        std::fs::create_dir_all(big.parent().unwrap()).unwrap();
        std::fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
        let r = hunt_files(dir.path());
        let h = &r.host;
        assert!(
            h.findings.iter().filter(|f| f.source.contains("ProgramData")).all(|f| f.severity <= Severity::Low),
            "{:#?}",
            h.findings
        );
        assert!(
            r.skipped.iter().any(|s| s.path.ends_with("huge.aspx") && s.reason.contains("size")),
            "{:?}",
            r.skipped
        );
    }
}

#[test]
fn wer_report_of_an_ecp_pool_crash_is_an_attempt() {
    use taskforce_files::{Sweep, SweepConfig};
    let dir = tempfile::tempdir().unwrap();
    let text = "Version=1\r\nEventType=APPCRASH\r\nAppPath=c:\\windows\\system32\\inetsrv\\w3wp.exe\r\nAppSession.Value=w3wp#MSExchangeECPAppPool\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let path = dir.path().join("C/ProgramData/Microsoft/Windows/WER/ReportArchive/AppCrash_w3wp.exe_1a2b/Report.wer");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let (sweep, _) = Sweep::load(&SweepConfig::default());
    let ev = Evidence::open(dir.path()).unwrap();
    let h = hunt_host(&ev, &RuleSet::builtin(), Options { files: Some(&sweep), ..Options::default() }).host;
    if taskforce_files::YARA_ENABLED {
        assert!(h.findings.iter().any(|f| f.rule == "TF-PL-08-WER"), "{:#?}", h.findings);
        assert_eq!(h.verdict, Verdict::Attempted);
    }
}
