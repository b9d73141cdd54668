//! The binary seeds (EVTX, zip, gzip, MaxMind DB, UTF-16 text), made by the project's own
//! writers so the corpus holds nothing copied. `tests/fuzz.rs` checks that the committed files
//! are exactly what this produces; `TASKFORCE_FUZZ_WRITE_SEEDS=1` rewrites them.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use taskforce_evtx_writer::{Event, EventData, write_evtx};

use crate::mmdb::{self, Network};

/// `(target, file name, bytes)` for every generated seed.
pub fn binary_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("evtx", "msexchange-management.evtx", evtx_management()),
        ("evtx", "sysmon-named-data.evtx", evtx_sysmon()),
        ("zip", "evidence-deflated.zip", evidence_zip(zip::CompressionMethod::Deflated)),
        ("zip", "evidence-stored.zip", evidence_zip(zip::CompressionMethod::Stored)),
        ("gz", "httpproxy.log.gz", gzip(HTTPPROXY)),
        ("gz", "two-members.log.gz", [gzip(IIS), gzip(IIS)].concat()),
        ("mmdb", "asn-v4-24.mmdb", mmdb::write(4, 24, &networks_v4())),
        ("mmdb", "asn-v6-28.mmdb", mmdb::write(6, 28, &networks_v6())),
        ("w3c", "utf16le-bom.log", utf16le(IIS)),
    ]
}

const HTTPPROXY: &[u8] = b"#Software: Microsoft Exchange Server\r\n#Version: 15.01.2176.002\r\n#Log-type: HttpProxy Logs\r\n#Fields: DateTime,RequestId,ServerHostName,UrlStem,AnchorMailbox,ClientIpAddress,HttpStatus\r\n2021-03-03T04:21:12.345Z,1,EX01,/ecp/y.js,ServerInfo~a]@EX01:444/ecp/proxyLogon.ecp,203.0.113.7,241\r\n2021-03-03T04:25:00.000Z,2,EX01,/owa/,,198.51.100.20,200\r\n";
const IIS: &[u8] = b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2021-03-03 00:00:00\r\n#Fields: date time cs-method cs-uri-stem c-ip sc-status\r\n2021-03-03 04:22:40 GET /aspnet_client/system_web/x.aspx 203.0.113.7 200\r\n";

fn at(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn evtx_management() -> Vec<u8> {
    let event = |id: u64, cmdlet: &str, args: &str| Event {
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        channel: "MSExchange Management".into(),
        computer: "EX01.example.org".into(),
        time: at(1_614_745_200 + id * 60),
        record_id: id,
        data: EventData::Unnamed(vec![cmdlet.into(), args.into(), "EXAMPLE\\admin".into(), String::new()]),
        ..Event::default()
    };
    write_evtx(&[
        event(1, "Get-Mailbox", "-ResultSize 'Unlimited'"),
        event(2, "Set-OabVirtualDirectory", "-ExternalUrl 'http://x/' -Identity 'OAB (Default Web Site)'"),
        event(
            3,
            "New-MailboxExportRequest",
            "-Mailbox 'a' -FilePath '\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx'",
        ),
    ])
}

fn evtx_sysmon() -> Vec<u8> {
    let named =
        |pairs: &[(&str, &str)]| EventData::Named(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    write_evtx(&[
        Event {
            provider: "Microsoft-Windows-Sysmon".into(),
            event_id: 1,
            channel: "Microsoft-Windows-Sysmon/Operational".into(),
            computer: "EX01".into(),
            time: at(1_614_745_300),
            data: named(&[
                ("Image", "C:\\Windows\\System32\\cmd.exe"),
                ("ParentImage", "C:\\Windows\\System32\\inetsrv\\w3wp.exe"),
                ("CommandLine", "cmd /c whoami"),
            ]),
            ..Event::default()
        },
        Event {
            provider: "Microsoft-Windows-Security-Auditing".into(),
            event_id: 4688,
            channel: "Security".into(),
            computer: "EX01".into(),
            time: at(1_614_745_301),
            data: named(&[("NewProcessName", "C:\\Windows\\System32\\net.exe"), ("CommandLine", "net group")]),
            ..Event::default()
        },
    ])
}

fn evidence_zip(method: zip::CompressionMethod) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(zip::DateTime::from_date_and_time(2021, 3, 10, 12, 0, 0).expect("a valid date"));
    let members: [(&str, Vec<u8>); 4] = [
        ("C%3A/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG", HTTPPROXY.to_vec()),
        ("C%3A/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log", IIS.to_vec()),
        ("C%3A/inetpub/logs/LogFiles/W3SVC1/u_ex210302.log.gz", gzip(IIS)),
        ("events/cmdlets.jsonl", b"{\"Event\":{\"System\":{\"EventID\":1,\"Channel\":\"MSExchange Management\",\"Computer\":\"EX01\"},\"EventData\":{\"Data\":[\"Get-Mailbox\"]}}}\n".to_vec()),
    ];
    for (name, body) in members {
        zip.start_file(name, options).expect("a zip member");
        zip.write_all(&body).expect("writing to memory");
    }
    zip.add_directory("C%3A/inetpub/wwwroot/aspnet_client/", options).expect("a zip directory");
    zip.finish().expect("writing to memory");
    out.into_inner()
}

/// Gzip with a fixed header (no name, time 0), so the bytes never change.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

fn networks_v4() -> Vec<Network> {
    vec![
        Network { addr: 0xC000_0200, prefix: 24, asn: Some(64496), org: Some("Example Net".into()) },
        Network { addr: 0xC633_6400, prefix: 25, asn: Some(64497), org: Some("Documentation, Inc.".into()) },
        Network { addr: 0xCB00_7180, prefix: 26, asn: Some(64498), org: None },
        Network { addr: 0x0A00_0000, prefix: 8, asn: None, org: Some("no ASN".into()) },
    ]
}

fn networks_v6() -> Vec<Network> {
    vec![
        Network { addr: 0x2001_0db8_u128 << 96, prefix: 32, asn: Some(64499), org: Some("Doc6".into()) },
        Network { addr: 0xFFFF_C000_0200, prefix: 120, asn: Some(64496), org: Some("Example Net (mapped)".into()) },
        Network {
            addr: 0x2001_0db8_0001_u128 << 80,
            prefix: 48,
            asn: Some(4_294_967_295),
            org: Some("é \u{202e}".into()),
        },
    ]
}

fn utf16le(text: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in String::from_utf8_lossy(text).encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}
