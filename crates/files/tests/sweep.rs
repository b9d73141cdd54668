//! taskforce-files: the sweep over inert fixtures, the user IOC formats, signature-base
//! compatibility (when `../shared/corpus` is present), size limits and the ExSetup.exe version.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

#[cfg(feature = "yara")]
use taskforce_files::Stage;
use taskforce_files::{
    Area, Build, Effect, FileResult, HitKind, LoadProblem, Severity, Sweep, SweepConfig, file_version,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/files")
}

fn builtin() -> &'static Sweep {
    static SWEEP: OnceLock<Sweep> = OnceLock::new();
    SWEEP.get_or_init(|| {
        let (sweep, problems) = Sweep::load(&SweepConfig::default());
        assert!(problems.is_empty(), "built-in content must load cleanly: {problems:#?}");
        sweep
    })
}

fn with_user_iocs() -> &'static (Sweep, Vec<LoadProblem>) {
    static SWEEP: OnceLock<(Sweep, Vec<LoadProblem>)> = OnceLock::new();
    SWEEP
        .get_or_init(|| Sweep::load(&SweepConfig { ioc_dirs: vec![fixtures().join("iocs")], ..SweepConfig::default() }))
}

fn scan(sweep: &Sweep, path: &str, bytes: &[u8]) -> FileResult {
    let area = sweep.in_scope(path).unwrap_or_else(|| panic!("{path} should be in scope"));
    sweep.scanner().scan(path, area, bytes.len() as u64, Some(1_615_000_000), &mut &bytes[..])
}

fn rule_ids(r: &FileResult) -> Vec<&str> {
    r.hits.iter().map(|h| h.rule.as_str()).collect()
}

fn detail<'a>(hit: &'a taskforce_files::FileHit, key: &str) -> Option<&'a str> {
    hit.detail.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `id = "..."` of every built-in YARA rule.
fn builtin_yara_ids() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(rules_dir().join("yara")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("id = \"") {
                ids.insert(rest.trim_end_matches('"').to_string());
            }
        }
    }
    ids
}

// --- built-in content -------------------------------------------------------------------------

#[test]
fn builtin_content_loads() {
    let sweep = builtin();
    assert_eq!(sweep.hash_ioc_count(), 20);
    assert!(sweep.name_rule_count() >= 20, "{}", sweep.name_rule_count());
    if taskforce_files::YARA_ENABLED {
        let ids = builtin_yara_ids();
        assert_eq!(sweep.yara_rule_count(), ids.len());
        assert_eq!(sweep.yara_stats().skipped(), 0);
    } else {
        assert_eq!(sweep.yara_rule_count(), 0);
    }
}

/// A DER certificate request (SEQUENCE, long form length) whose subject holds `subject`.
#[cfg(feature = "yara")]
fn der_request(subject: &str, pad_to: usize) -> Vec<u8> {
    let mut v = vec![0x30, 0x82, 0x01, 0x00, 0x30, 0x81, 0xf0, 0x02, 0x01, 0x00, 0x30, 0x1a, 0x31, 0x18, 0x30, 0x16];
    v.extend_from_slice(&[0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, subject.len() as u8]);
    v.extend_from_slice(subject.as_bytes());
    v.extend_from_slice(b"taskforce test fixture (inert)");
    v.resize(pad_to.max(v.len()), 0);
    v
}

#[test]
#[cfg(feature = "yara")]
fn each_builtin_yara_rule_has_a_positive_and_a_negative_fixture() {
    let sweep = builtin();
    let mut cases: Vec<(String, bool, String, Vec<u8>)> = Vec::new(); // (rule, should match, name, bytes)
    for entry in std::fs::read_dir(fixtures().join("yara")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (rule, kind) = name.split_once('.').unwrap();
        let positive = kind.starts_with("match");
        assert!(positive || kind.starts_with("nomatch"), "fixture name {name}");
        cases.push((rule.to_string(), positive, name.clone(), std::fs::read(&path).unwrap()));
    }
    // Binary shapes are generated here rather than shipped.
    let page = r#"<%@ Page Language="C#" %>"#;
    cases.push(("TF-FS-04-CERTREQ-PAGE".into(), true, "generated DER + page".into(), der_request(page, 600)));
    cases.push((
        "TF-FS-04-CERTREQ-PAGE".into(),
        false,
        "generated DER, no page".into(),
        der_request("exch01.corp.example", 600),
    ));
    cases.push((
        "TF-FS-04-CERTREQ-PAGE".into(),
        false,
        "generated DER + page, 12 KB".into(),
        der_request(page, 12 << 10),
    ));

    // Windows Error Reports are UTF-16LE text with a BOM (PL-08).
    let wer = |text: &str| -> Vec<u8> {
        let mut v = vec![0xFF, 0xFE];
        v.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        v
    };
    let report = "Version=1\r\nEventType=APPCRASH\r\nAppPath=c:\\windows\\system32\\inetsrv\\w3wp.exe\r\nSig[0].Name=Application Name\r\nUI[2]=c:\\windows\\system32\\inetsrv\\w3wp.exe\r\nState[0].Key=Transport.DoneStage1\r\nOsInfo[0].Key=vermaj\r\nPackageRelativeAppId=\r\nDynamicSig[1].Name=OS Version\r\nFriendlyEventName=Stopped working\r\nAppName=IIS Worker Process\r\nTargetAppId=W:w3wp.exe\r\nTargetAppVer=w3wp#MSExchangeECPAppPool\r\nAppSession.Value=w3wp#MSExchangeECPAppPool\r\n";
    cases.push(("TF-PL-08-WER".into(), true, "Report.wer (ECP pool)".into(), wer(report)));
    cases.push((
        "TF-PL-08-WER".into(),
        false,
        "Report.wer (OWA pool)".into(),
        wer(&report.replace("MSExchangeECPAppPool", "MSExchangeOWAAppPool")),
    ));
    cases.push(("TF-PL-08-WER".into(), true, "Report.wer re-saved as ASCII".into(), report.as_bytes().to_vec()));

    let mut covered: BTreeSet<(String, bool)> = BTreeSet::new();
    for (rule, positive, name, bytes) in &cases {
        // A text file in aspnet_client: no name rule fires on `.txt`, only content.
        let r = scan(sweep, &format!("C/inetpub/wwwroot/aspnet_client/{name}"), bytes);
        assert!(r.error.is_none(), "{name}: {:?}", r.error);
        let ids = rule_ids(&r);
        assert_eq!(ids.contains(&rule.as_str()), *positive, "{name}: hits {ids:?}");
        covered.insert((rule.clone(), *positive));
    }
    for id in builtin_yara_ids() {
        assert!(covered.contains(&(id.clone(), true)), "{id} has no positive fixture");
        assert!(covered.contains(&(id.clone(), false)), "{id} has no negative fixture");
    }
}

#[test]
#[cfg(feature = "yara")]
fn yara_hits_carry_the_rule_meta() {
    let bytes = std::fs::read(fixtures().join("yara/TF-FS-04-OABCONFIG.match.txt")).unwrap();
    let r = scan(builtin(), "uploads/auto/C:/inetpub/wwwroot/aspnet_client/discover.aspx", &bytes);
    let hit = r.hits.iter().find(|h| h.rule == "TF-FS-04-OABCONFIG").expect("OAB config hit");
    assert_eq!(
        (hit.severity, hit.stage, hit.effect, hit.kind),
        (Severity::Critical, Stage::Webshell, Effect::Compromised, HitKind::Yara)
    );
    assert!(hit.cves.contains(&"CVE-2021-27065".to_string()));
    assert!(hit.excerpt.to_ascii_lowercase().contains("internalauthenticationmethods"), "{}", hit.excerpt);
    assert_eq!(detail(hit, "yara_namespace"), Some("taskforce"));
    assert_eq!(detail(hit, "area"), Some("aspnet-client"));
    assert_eq!(detail(hit, "web_path"), Some("/aspnet_client/discover.aspx"));
    assert_eq!(detail(hit, "sha256"), r.sha256.as_deref());
    assert_eq!(detail(hit, "modified"), Some("1615000000"));
    // The known name is a second, separate hit on the same file; most severe first.
    assert!(rule_ids(&r).contains(&"TF-FS-02-ASPNET-CLIENT-NAME"));
    assert!(r.hits.windows(2).all(|w| w[0].severity >= w[1].severity));
}

#[test]
fn stock_exchange_pages_are_not_flagged() {
    let sweep = builtin();
    for entry in std::fs::read_dir(fixtures().join("pages")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let folder = if name == "TimeoutLogout.aspx" { "ecp" } else { "owa" };
        let evidence = format!("C/Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/{folder}/auth/{name}");
        let r = scan(sweep, &evidence, &std::fs::read(&path).unwrap());
        assert!(r.hits.is_empty(), "{evidence}: {:#?}", r.hits);
        assert!(r.sha256.is_some());
    }
}

// --- names and paths ----------------------------------------------------------------------------

#[test]
fn name_and_path_rules() {
    let sweep = builtin();
    let fe = "C/Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy";
    type Expected = Option<(&'static str, Severity, Effect)>;
    let cases: Vec<(String, Expected)> = vec![
        // FS-02 known names, FS-01 pages where none belong
        (
            "C/inetpub/wwwroot/aspnet_client/shell.aspx".into(),
            Some(("TF-FS-02-ASPNET-CLIENT-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            "C/inetpub/wwwroot/aspnet_client/system_web/Ab12Cd34.aspx".into(),
            Some(("TF-FS-02-ASPNET-CLIENT-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            "C/inetpub/wwwroot/aspnet_client/google.log".into(),
            Some(("TF-FS-02-ASPNET-CLIENT-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            "C/inetpub/wwwroot/aspnet_client/anything.aspx".into(),
            Some(("TF-FS-01-ASPNET-CLIENT-PAGE", Severity::High, Effect::Compromised)),
        ),
        ("C/inetpub/wwwroot/aspnet_client/system_web/4_0_30319/WebUIValidation.js".into(), None),
        (
            format!("{fe}/owa/auth/logout.aspx"),
            Some(("TF-FS-02-OWA-AUTH-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/errorPage.aspx"),
            Some(("TF-FS-02-OWA-AUTH-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/Current/one1.aspx"),
            Some(("TF-FS-02-OWA-AUTH-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/HWTJQDMFVMPOON.aspx"),
            Some(("TF-FS-02-OWA-AUTH-PROXYSHELL-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/owafonts.aspx"),
            Some(("TF-FS-02-OWA-AUTH-PROXYNOTSHELL-NAME", Severity::Critical, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/Current/themes/resources/x.aspx"),
            Some(("TF-FS-01-OWA-AUTH-SUBFOLDER-PAGE", Severity::High, Effect::Compromised)),
        ),
        (
            format!("{fe}/owa/auth/15.1.2176/x.aspx"),
            Some(("TF-FS-01-OWA-AUTH-SUBFOLDER-PAGE", Severity::High, Effect::Compromised)),
        ),
        (format!("{fe}/owa/auth/15.1.2176/scripts/premium/flogon.js"), None),
        (format!("{fe}/owa/auth/mystery.aspx"), Some(("TF-FS-01-OWA-AUTH-UNKNOWN-PAGE", Severity::Low, Effect::None))),
        (format!("{fe}/owa/auth/logon.aspx"), None),
        (format!("{fe}/owa/auth/logoff.aspx"), None),
        (format!("{fe}/owa/auth/errorFE.aspx"), None),
        (format!("{fe}/owa/auth/ExpiredPassword.aspx"), None),
        (format!("{fe}/ecp/auth/TimeoutLogout.aspx"), None),
        (format!("{fe}/ecp/auth/x.aspx"), Some(("TF-FS-01-ECP-AUTH-PAGE", Severity::High, Effect::Compromised))),
        (format!("{fe}/OAB/log.aspx"), Some(("TF-FS-02-OAB-NAME", Severity::Critical, Effect::Compromised))),
        (format!("{fe}/OAB/other.aspx"), Some(("TF-FS-01-OAB-PAGE", Severity::High, Effect::Compromised))),
        (format!("{fe}/OAB/web.config"), None),
        (format!("{fe}/ecp/default.aspx"), None),
        (
            "C/ProgramData/COM1/a.aspx".into(),
            Some(("TF-FS-01-PROGRAMDATA-DEVICE-FOLDER", Severity::Critical, Effect::Compromised)),
        ),
        (
            "C/Users/All Users/ZING/b.aspx".into(),
            Some(("TF-FS-01-PROGRAMDATA-DEVICE-FOLDER", Severity::Critical, Effect::Compromised)),
        ),
        (
            "C/ProgramData/Vendor/help.aspx".into(),
            Some(("TF-FS-01-PROGRAMDATA-PAGE", Severity::Medium, Effect::Review)),
        ),
        (
            "C/Users/Public/opera/Opera_browser.exe".into(),
            Some(("TF-FS-02-OPERA-BROWSER", Severity::Critical, Effect::Compromised)),
        ),
        // FS-06 credential dumps: in Windows\Temp, and anywhere (C:\root is outside the areas)
        ("C/Windows/Temp/lsass.dmp".into(), Some(("TF-FS-06-LSASS-DUMP", Severity::Critical, Effect::Compromised))),
        (
            "C/root/lsass.exe_210303_010101.DMP".into(),
            Some(("TF-FS-06-LSASS-DUMP", Severity::Critical, Effect::Compromised)),
        ),
        ("C/Windows/Temp/other.dmp".into(), None),
        // FS-07 staging: low context only, never a verdict
        ("C/ProgramData/it.zip".into(), Some(("TF-FS-07-PROGRAMDATA-SHORT-ARCHIVE", Severity::Low, Effect::None))),
        (
            "C/ProgramData/McAfee/Common Framework/Frameworks.zip".into(),
            Some(("TF-FS-07-PROGRAMDATA-ARCHIVE", Severity::Low, Effect::None)),
        ),
        (
            "C/ProgramData/AppRecovery/Logs/backup_2021.7z".into(),
            Some(("TF-FS-07-PROGRAMDATA-ARCHIVE", Severity::Low, Effect::None)),
        ),
        ("C/ProgramData/pst/mailbox.pst".into(), Some(("TF-FS-07-PST-STAGING", Severity::Low, Effect::None))),
        ("C/ProgramData/Microsoft/Windows/Start Menu/desktop.ini".into(), None),
        // FS-10 tooling
        ("C/Windows/Temp/xx.bat".into(), Some(("TF-FS-10-WINDOWS-TEMP-TOOLS", Severity::High, Effect::Compromised))),
        ("C/Windows/Temp/update.bat".into(), None),
        ("C/ProgramData/VSPerfMon/x.exe".into(), Some(("TF-FS-10-VSPERFMON", Severity::High, Effect::Compromised))),
        ("C/Users/Public/calcx.exe".into(), Some(("TF-FS-10-USERS-PUBLIC-TOOLS", Severity::High, Effect::Compromised))),
        ("C/mscoree.dll".into(), Some(("TF-FS-10-MSCOREE-DROP", Severity::High, Effect::Compromised))),
        (
            "C/Windows/Help/mui/0109/mscoree.dll".into(),
            Some(("TF-FS-10-MSCOREE-DROP", Severity::High, Effect::Compromised)),
        ),
        (
            "C/Program Files/System/websvc.dll".into(),
            Some(("TF-FS-10-WEBSVC-IISWMI", Severity::High, Effect::Compromised)),
        ),
        (
            "C/Program Files/Common Files/Microsoft Shared/WMI/iiswmi.dll".into(),
            Some(("TF-FS-10-WEBSVC-IISWMI", Severity::High, Effect::Compromised)),
        ),
    ];
    let mut covered = BTreeSet::new();
    for (path, expected) in &cases {
        let r = scan(sweep, path, b"taskforce test fixture: harmless content\n");
        let names: Vec<_> = r.hits.iter().filter(|h| h.kind == HitKind::Name).collect();
        match expected {
            None => assert!(names.is_empty(), "{path}: {names:#?}"),
            Some((id, sev, eff)) => {
                assert_eq!(names.len(), 1, "{path}: exactly one name hit expected, got {names:#?}");
                assert_eq!((names[0].rule.as_str(), names[0].severity, names[0].effect), (*id, *sev, *eff), "{path}");
                covered.insert(id.to_string());
            }
        }
    }
    // Outside every area and not named by any rule: not in scope at all.
    for path in ["C/Windows/System32/lsass.exe", "C/Windows/System32/mscoree.dll", "C/Users/bob/Documents/x.aspx"] {
        assert_eq!(sweep.in_scope(path), None, "{path}");
    }
    assert_eq!(sweep.in_scope("C/root/lsass.dmp"), Some(Area::Other));
    // Every built-in name rule is exercised by a positive case above.
    let yml = std::fs::read_to_string(rules_dir().join("iocs/names.yml")).unwrap();
    for id in yml.lines().filter_map(|l| l.strip_prefix("- id: ")) {
        assert!(covered.contains(id.trim()), "{id} has no positive case");
    }
}

#[test]
fn iis_vdir_into_program_data() {
    let sweep = builtin();
    let path = "C/Windows/System32/inetsrv/config/applicationHost.config";
    let bad = scan(sweep, path, &std::fs::read(fixtures().join("iis/applicationHost.programdata.config")).unwrap());
    let hit = bad.hits.iter().find(|h| h.rule == "TF-FS-09-IIS-VDIR-PROGRAMDATA").expect("FS-09 hit");
    assert_eq!((hit.severity, hit.effect, hit.kind), (Severity::Critical, Effect::Compromised, HitKind::IisConfig));
    assert_eq!(detail(hit, "physical_path"), Some("C:\\ProgramData\\COM1"));
    assert_eq!(detail(hit, "virtual_path"), Some("/COM1"));
    assert_eq!(detail(hit, "site"), Some("Default Web Site"));
    let clean = scan(sweep, path, &std::fs::read(fixtures().join("iis/applicationHost.clean.config")).unwrap());
    assert!(clean.hits.is_empty(), "{:#?}", clean.hits);
}

// --- user IOC lists -----------------------------------------------------------------------------

#[test]
fn user_ioc_formats() {
    let (sweep, problems) = with_user_iocs();
    let has_problem = |file: &str, rule: Option<&str>| {
        problems.iter().any(|p| p.path.ends_with(file) && (rule.is_none() || p.rule.as_deref() == rule))
    };
    assert!(has_problem("hash-iocs-test.txt", Some("line 6")), "{problems:#?}");
    assert!(has_problem("filename-iocs-test.txt", Some("line 10")), "{problems:#?}");
    assert!(has_problem("mstic-test.csv", Some("line 4")), "{problems:#?}");
    assert!(has_problem("c2-iocs-test.txt", None), "{problems:#?}");
    assert_eq!(problems.len(), 4, "{problems:#?}");

    let hit_of = |path: &str, bytes: &[u8], rule: &str| {
        let r = scan(sweep, path, bytes);
        r.hits.into_iter().find(|h| h.rule == rule)
    };
    // hash;comment with SHA-256, MD5 and SHA-1; positive and negative
    let web = "C/inetpub/wwwroot/aspnet_client/note.txt";
    for (content, comment) in [
        ("taskforce-test: harmless stand-in for a known-bad file (sha256)", "Test stand-in web shell (SHA-256)"),
        ("taskforce-test: harmless stand-in for a known-bad file (md5)", "Test stand-in tool (MD5)"),
        ("taskforce-test: harmless stand-in for a known-bad file (sha1)", "Test stand-in tool (SHA-1)"),
    ] {
        let hit = hit_of(web, content.as_bytes(), "USER-HASH-IOC").unwrap_or_else(|| panic!("{comment}"));
        assert_eq!((hit.severity, hit.effect, hit.kind), (Severity::Critical, Effect::Compromised, HitKind::Hash));
        assert_eq!(detail(&hit, "ioc_comment"), Some(comment));
    }
    assert!(hit_of(web, b"taskforce-test: some other harmless content", "USER-HASH-IOC").is_none());

    // MSTIC CSV: a sha256 and a file path
    let mstic =
        hit_of(web, b"taskforce-test: harmless stand-in listed in an MSTIC-style feed", "USER-HASH-IOC").unwrap();
    assert!(detail(&mstic, "ioc_comment").unwrap().starts_with("MSTIC feed"));
    let r = scan(sweep, "C/inetpub/wwwroot/aspnet_client/tf_mstic_test.aspx", b"x");
    assert_eq!(rule_ids(&r), ["USER-MSTIC-FILEPATH"], "the specific path hit replaces the generic page rule");
    assert!(hit_of("C/inetpub/wwwroot/aspnet_client/tf_mstic_other.txt", b"x", "USER-MSTIC-FILEPATH").is_none());

    // regex;score[;fp-regex]
    let tool = hit_of("C/ProgramData/tf-test/abcd.exe", b"x", "USER-FILENAME-IOC").unwrap();
    assert_eq!((tool.severity, tool.effect), (Severity::High, Effect::Compromised));
    assert_eq!(tool.title, "File name or path on an IOC list: Test tool dropped in ProgramData");
    assert_eq!(tool.excerpt, "C:\\ProgramData\\tf-test\\abcd.exe");
    let stage = hit_of("C/Windows/Temp/tf_stage.bat", b"x", "USER-FILENAME-IOC").unwrap();
    assert_eq!((stage.severity, stage.effect), (Severity::Medium, Effect::Review));
    assert!(hit_of("C/Windows/Temp/tf_stage.cmd", b"x", "USER-FILENAME-IOC").is_none(), "false-positive regex");
    assert!(hit_of("C/ProgramData/tf-test/abcde.exe", b"x", "USER-FILENAME-IOC").is_none());
    assert_eq!(sweep.in_scope("C/Tools/tf_outside.exe"), Some(Area::Other));
    assert!(hit_of("C/Tools/tf_outside.exe", b"x", "USER-FILENAME-IOC").is_some());
    assert_eq!(sweep.in_scope("C/Tools/tf_inside.exe"), None);

    // names.yml schema from the user folder
    assert!(hit_of("C/Windows/Temp/tf_test_tool.exe", b"x", "TF-TEST-TEMP-TOOL").is_some());
    assert!(hit_of("C/Windows/Temp/tf_test_tool2.exe", b"x", "TF-TEST-TEMP-TOOL").is_none());
}

/// Microsoft's feed as shipped in the corpus: its hashes are all in the built-in list, and each
/// of its web shell paths is flagged by the built-in name rules.
#[test]
fn mstic_feed_matches_the_builtin_lists() {
    let Some(corpus) = taskforce_corpus::dir("mstic_feed_matches_the_builtin_lists") else { return };
    let dir = corpus.join("iocs");
    let (sweep, problems) = Sweep::load(&SweepConfig { ioc_dirs: vec![dir.clone()], ..SweepConfig::default() });
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(sweep.hash_ioc_count(), builtin().hash_ioc_count(), "the feed adds no hash the built-in list lacks");
    let csv =
        std::fs::read_to_string(dir.join("MSTICIoCs-ExchangeServerVulnerabilitiesDisclosedMarch2021.csv")).unwrap();
    let mut paths = 0;
    for line in csv.lines().filter(|l| l.ends_with(",filepath,White")) {
        let windows = line.split(',').nth(2).unwrap();
        let path = windows.replacen("C:\\", "C/", 1).replace('\\', "/");
        let r = scan(builtin(), &path, b"x");
        let hit = r.hits.iter().find(|h| h.kind == HitKind::Name).unwrap_or_else(|| panic!("{path}"));
        assert_eq!((hit.severity, hit.effect), (Severity::Critical, Effect::Compromised), "{path}: {}", hit.rule);
        paths += 1;
    }
    assert!(paths >= 40, "{paths}");
}

// --- signature-base --------------------------------------------------------------------------

#[test]
#[cfg(feature = "yara")]
fn signature_base_compiles_best_effort() {
    let Some(corpus) = taskforce_corpus::dir("signature_base_compiles_best_effort") else { return };
    let sb = corpus.join("signature-base");
    let start = Instant::now();
    let (sweep, problems) = Sweep::load(&SweepConfig {
        yara_dirs: vec![sb.join("yara")],
        ioc_dirs: vec![sb.join("iocs")],
        ..SweepConfig::default()
    });
    let stats = sweep.yara_stats();
    let yara_problems: Vec<_> = problems.iter().filter(|p| p.path.ends_with(".yar")).collect();
    let ioc_problems = problems.len() - yara_problems.len();
    eprintln!(
        "signature-base: {} rule files, {} rules declared, {} compiled, {} skipped ({} problems listed); \
         {} hash IOCs, {} name rules/filename IOCs ({} IOC lines skipped); loaded in {:.1?}",
        stats.files,
        stats.declared,
        stats.compiled,
        stats.skipped(),
        yara_problems.len(),
        sweep.hash_ioc_count(),
        sweep.name_rule_count(),
        ioc_problems,
        start.elapsed()
    );
    for p in problems.iter().take(20) {
        eprintln!("  not loaded: {} {:?}: {}", p.path, p.rule, p.reason);
    }
    assert!(stats.files >= 700, "{stats:?}");
    assert!(stats.compiled * 100 >= stats.declared * 95, "at least 95% of the rules compile: {stats:?}");
    assert!(sweep.hash_ioc_count() > 3000);

    // The rules run, with the externals defined: the stock pages stay clean, the fixtures stay inert
    // to the generic rules but our own rules still fire.
    for entry in std::fs::read_dir(fixtures().join("pages")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let evidence = format!("C/Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth/{name}");
        let evidence = if name == "TimeoutLogout.aspx" { evidence.replace("/owa/", "/ecp/") } else { evidence };
        let r = scan(&sweep, &evidence, &std::fs::read(&path).unwrap());
        let serious: Vec<_> = r.hits.iter().filter(|h| h.effect != Effect::None).collect();
        assert!(serious.is_empty(), "{evidence}: {serious:#?}");
    }
    let oab = std::fs::read(fixtures().join("yara/TF-FS-04-OABCONFIG.match.txt")).unwrap();
    let r = scan(&sweep, "C/inetpub/wwwroot/aspnet_client/x.aspx", &oab);
    eprintln!("OAB fixture with signature-base: {:?}", rule_ids(&r));
    assert!(rule_ids(&r).contains(&"TF-FS-04-OABCONFIG"));
}

#[test]
#[cfg(feature = "yara")]
fn user_yara_rules_best_effort_with_externals_and_score_mapping() {
    let (sweep, problems) =
        Sweep::load(&SweepConfig { yara_dirs: vec![fixtures().join("yara-user")], ..SweepConfig::default() });
    let builtin_rules = builtin_yara_ids().len();
    let stats = sweep.yara_stats();
    assert_eq!(stats.files, 2 + 1, "built-in file + mixed.yar + sub/broken.yara: {stats:?}");
    assert_eq!(stats.compiled, builtin_rules + 3, "{stats:?} {problems:#?}");
    let listed = |rule: &str, reason: &str| {
        problems
            .iter()
            .any(|p| p.rule.as_deref() == Some(rule) && p.reason.contains(reason) && p.path.ends_with("mixed.yar"))
    };
    assert!(listed("TEST_Unknown_Identifier", "unknown identifier"), "{problems:#?}");
    assert!(listed("TEST_Uses_Magic", "`magic` module"), "{problems:#?}");
    assert!(problems.iter().any(|p| p.path.ends_with("broken.yara")), "{problems:#?}");

    let web = "C/inetpub/wwwroot/aspnet_client/ext_note.txt";
    let r =
        scan(&sweep, web, b"<p>TASKFORCE-TEST-WEBSHELL-MARKER TASKFORCE-TEST-SUSP-MARKER TASKFORCE-TEST-EXTERNALS</p>");
    let hit = |id: &str| r.hits.iter().find(|h| h.rule == id).unwrap_or_else(|| panic!("{id}: {:#?}", r.hits));
    let high = hit("TEST_WEBSHELL_Marker_High");
    assert_eq!((high.severity, high.stage, high.effect), (Severity::High, Stage::Webshell, Effect::Compromised));
    assert_eq!(high.cves, ["CVE-2021-27065"]);
    assert_eq!(detail(high, "yara_namespace"), Some("mixed.yar"));
    assert_eq!(high.excerpt, "TASKFORCE-TEST-WEBSHELL-MARKER");
    let low = hit("TEST_SUSP_Marker_Low");
    assert_eq!((low.severity, low.effect), (Severity::Low, Effect::None));
    assert_eq!(hit("TEST_Externals_Filepath").severity, Severity::Medium);
    // The externals are per file: another name or folder, no hit.
    let r = scan(&sweep, "C/Windows/Temp/ext_note.txt", b"TASKFORCE-TEST-EXTERNALS");
    assert!(r.hits.is_empty(), "{:#?}", r.hits);
    let r = scan(&sweep, "C/inetpub/wwwroot/aspnet_client/note.txt", b"TASKFORCE-TEST-EXTERNALS");
    assert!(r.hits.is_empty(), "{:#?}", r.hits);
}

#[test]
#[cfg(not(feature = "yara"))]
fn without_yara_the_sweep_still_runs_and_says_so() {
    let (sweep, problems) =
        Sweep::load(&SweepConfig { yara_dirs: vec!["/nonexistent".into()], ..SweepConfig::default() });
    assert_eq!(sweep.yara_rule_count(), 0);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].reason, taskforce_files::YARA_DISABLED_MESSAGE);
    let r = scan(&sweep, "C/inetpub/wwwroot/aspnet_client/shell.aspx", b"x");
    assert_eq!(rule_ids(&r), ["TF-FS-02-ASPNET-CLIENT-NAME"]);
}

// --- size limits and damaged input ----------------------------------------------------------------

#[test]
fn multi_gigabyte_sparse_file_is_skipped_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lsass.dmp");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(3 << 30).unwrap(); // 3 GiB, sparse: no data written
    drop(file);
    let sweep = builtin();
    let evidence = "C/Windows/Temp/lsass.dmp";
    let mut f = std::fs::File::open(&path).unwrap();
    let size = f.metadata().unwrap().len();
    let start = Instant::now();
    let r = sweep.scanner().scan(evidence, sweep.in_scope(evidence).unwrap(), size, None, &mut f);
    assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
    assert!(r.skipped_for_size);
    assert_eq!(r.sha256, None);
    assert_eq!(rule_ids(&r), ["TF-FS-06-LSASS-DUMP"], "name checks still run");
}

#[test]
fn limits_hold_when_the_declared_size_lies() {
    let (sweep, _) =
        Sweep::load(&SweepConfig { max_file_size: 64 << 10, max_hash_size: 1 << 20, ..SweepConfig::default() });
    // Declares 10 bytes, delivers 3 GiB of zeros: reading stops past the hash limit.
    let mut endless = std::io::repeat(0).take(3 << 30);
    let start = Instant::now();
    let r = sweep.scanner().scan("C/inetpub/wwwroot/aspnet_client/a.txt", Area::AspnetClient, 10, None, &mut endless);
    assert!(start.elapsed().as_secs_f64() < 2.0);
    assert!(r.skipped_for_size && r.sha256.is_none());
    assert!(endless.limit() > (3 << 30) - (4 << 20), "read far past the limit");

    // Between the limits: hashed, but its content is not scanned.
    let mut oab = std::fs::read(fixtures().join("yara/TF-FS-04-OABCONFIG.match.txt")).unwrap();
    oab.resize(100 << 10, b' ');
    let r = sweep.scanner().scan(
        "C/inetpub/wwwroot/aspnet_client/a.txt",
        Area::AspnetClient,
        oab.len() as u64,
        None,
        &mut &oab[..],
    );
    assert!(r.skipped_for_size && r.sha256.is_some() && r.hits.is_empty(), "{r:#?}");
}

struct FailingReader(usize);

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("damaged zip member"));
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(b'a');
        self.0 -= n;
        Ok(n)
    }
}

#[test]
fn read_errors_keep_the_name_hits() {
    let sweep = builtin();
    let path = "C/inetpub/wwwroot/aspnet_client/shell.aspx";
    let r = sweep.scanner().scan(path, Area::AspnetClient, 1000, None, &mut FailingReader(100));
    assert!(r.error.as_deref().unwrap().contains("damaged zip member"));
    assert_eq!(r.sha256, None);
    assert_eq!(rule_ids(&r), ["TF-FS-02-ASPNET-CLIENT-NAME"]);
}

#[test]
fn scanners_run_on_many_threads() {
    let sweep = builtin();
    let files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("yara")).unwrap().map(|e| e.unwrap().path()).collect();
    let hits: usize = std::thread::scope(|s| {
        let chunks: Vec<_> = files.chunks(files.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut scanner = sweep.scanner();
                    chunk
                        .iter()
                        .map(|p| {
                            let bytes = std::fs::read(p).unwrap();
                            let path = "C/inetpub/wwwroot/aspnet_client/f.txt";
                            scanner.scan(path, Area::AspnetClient, bytes.len() as u64, None, &mut &bytes[..]).hits.len()
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    if taskforce_files::YARA_ENABLED {
        assert!(hits >= 10, "{hits}");
    }
}

// --- ExSetup.exe ----------------------------------------------------------------------------------

/// A minimal PE32+ image with one `.rsrc` section holding a `VS_VERSIONINFO` (RT_VERSION, id 1,
/// language 0x409) with the given file version, and a StringFileInfo `FileVersion` string.
fn tiny_pe(version: Option<(u16, u16, u16, u16)>) -> Vec<u8> {
    fn u16le(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn u32le(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn utf16z(v: &mut Vec<u8>, s: &str) {
        for c in s.encode_utf16().chain([0]) {
            u16le(v, c);
        }
    }
    fn align4(v: &mut Vec<u8>) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
    }
    /// A version-info block: wLength, wValueLength, wType, key, padding, value, padding, children.
    fn block(key: &str, value: &[u8], value_len: u16, text: bool, children: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0];
        u16le(&mut b, value_len);
        u16le(&mut b, u16::from(text));
        utf16z(&mut b, key);
        align4(&mut b);
        b.extend_from_slice(value);
        align4(&mut b);
        b.extend_from_slice(children);
        let len = b.len() as u16;
        b[..2].copy_from_slice(&len.to_le_bytes());
        b
    }

    const RSRC_RVA: u32 = 0x1000;
    let mut rsrc = Vec::new();
    if let Some((a, b, c, d)) = version {
        let mut fixed = Vec::new();
        for x in [0xFEEF_04BD, 0x0001_0000, (u32::from(a) << 16) | u32::from(b), (u32::from(c) << 16) | u32::from(d)] {
            u32le(&mut fixed, x);
        }
        for x in
            [(u32::from(a) << 16) | u32::from(b), (u32::from(c) << 16) | u32::from(d), 0x3f, 0, 0x0004_0004, 1, 0, 0, 0]
        {
            u32le(&mut fixed, x);
        }
        let text = format!("{a}.{b:02}.{c:04}.{d:03}");
        let mut value = Vec::new();
        utf16z(&mut value, &text);
        let string = block("FileVersion", &value, (text.len() + 1) as u16, true, &[]);
        let table = block("040904B0", &[], 0, true, &string);
        let sfi = block("StringFileInfo", &[], 0, true, &table);
        let info = block("VS_VERSION_INFO", &fixed, fixed.len() as u16, false, &sfi);

        // Three directory levels (type 16 → name 1 → language 0x409), then the data entry.
        let dir = |out: &mut Vec<u8>, id: u32, target: u32| {
            out.extend_from_slice(&[0; 12]);
            u16le(out, 0);
            u16le(out, 1);
            u32le(out, id);
            u32le(out, target);
        };
        dir(&mut rsrc, 16, 0x8000_0000 | 0x18);
        dir(&mut rsrc, 1, 0x8000_0000 | 0x30);
        dir(&mut rsrc, 0x409, 0x48);
        u32le(&mut rsrc, RSRC_RVA + 0x58);
        u32le(&mut rsrc, info.len() as u32);
        u32le(&mut rsrc, 0);
        u32le(&mut rsrc, 0);
        assert_eq!(rsrc.len(), 0x58);
        rsrc.extend_from_slice(&info);
    } else {
        rsrc.extend_from_slice(&[0; 16]); // an empty resource directory
    }
    let raw_size = rsrc.len().div_ceil(0x200) * 0x200;

    let mut pe = vec![0u8; 0x40];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    pe.extend_from_slice(b"PE\0\0");
    // COFF header
    u16le(&mut pe, 0x8664);
    u16le(&mut pe, 1);
    u32le(&mut pe, 0);
    u32le(&mut pe, 0);
    u32le(&mut pe, 0);
    u16le(&mut pe, 240);
    u16le(&mut pe, 0x0022);
    // Optional header, PE32+
    u16le(&mut pe, 0x20b);
    pe.extend_from_slice(&[14, 0]);
    for _ in 0..5 {
        u32le(&mut pe, 0); // sizes of code/data, entry point, base of code
    }
    pe.extend_from_slice(&0x1_4000_0000u64.to_le_bytes());
    u32le(&mut pe, 0x1000);
    u32le(&mut pe, 0x200);
    for x in [6, 0, 0, 0, 6, 0] {
        u16le(&mut pe, x);
    }
    u32le(&mut pe, 0);
    u32le(&mut pe, RSRC_RVA + (raw_size as u32).div_ceil(0x1000) * 0x1000); // SizeOfImage
    u32le(&mut pe, 0x200); // SizeOfHeaders
    u32le(&mut pe, 0);
    u16le(&mut pe, 3);
    u16le(&mut pe, 0x8160);
    for _ in 0..4 {
        pe.extend_from_slice(&0x10_0000u64.to_le_bytes());
    }
    u32le(&mut pe, 0);
    u32le(&mut pe, 16);
    for i in 0..16 {
        if i == 2 {
            u32le(&mut pe, RSRC_RVA);
            u32le(&mut pe, rsrc.len() as u32);
        } else {
            u32le(&mut pe, 0);
            u32le(&mut pe, 0);
        }
    }
    // Section table
    pe.extend_from_slice(b".rsrc\0\0\0");
    u32le(&mut pe, rsrc.len() as u32);
    u32le(&mut pe, RSRC_RVA);
    u32le(&mut pe, raw_size as u32);
    u32le(&mut pe, 0x200);
    u32le(&mut pe, 0);
    u32le(&mut pe, 0);
    u16le(&mut pe, 0);
    u16le(&mut pe, 0);
    u32le(&mut pe, 0x4000_0040);
    pe.resize(0x200, 0);
    pe.extend_from_slice(&rsrc);
    pe.resize(0x200 + raw_size, 0);
    pe
}

#[test]
fn exsetup_version_from_a_small_pe() {
    let pe = tiny_pe(Some((15, 1, 2176, 2)));
    let expected: Build = "15.1.2176.2".parse().unwrap();
    assert_eq!(file_version(&pe), Some(expected));

    let sweep = builtin();
    let path = "D/Exchange/V15/Bin/ExSetup.exe";
    assert_eq!(sweep.in_scope(path), Some(Area::ExchangeBin));
    let r = scan(sweep, path, &pe);
    assert_eq!(r.exchange_build, Some(expected));
    assert!(r.hits.is_empty(), "{:#?}", r.hits);

    // A damaged PE header: the version resource is still found by its signature.
    let mut damaged = pe.clone();
    damaged[0x40..0x44].copy_from_slice(b"XX\0\0");
    assert_eq!(file_version(&damaged), Some(expected));

    // No version resource, or not a PE at all: no build.
    assert_eq!(file_version(&tiny_pe(None)), None);
    assert_eq!(file_version(b"MZ taskforce test fixture"), None);
    let other = sweep.scanner().scan("D/Exchange/V15/Bin/Setup.exe", Area::Other, pe.len() as u64, None, &mut &pe[..]);
    assert_eq!(other.exchange_build, None, "only ExSetup.exe gives the build");
}
