//! Text logs: IIS W3C and Exchange `#Fields` CSV, through the hunt's own scan (identification
//! from the header, chunking, the prefilter bypassed so every line is split and every rule
//! evaluated, Sigma `webserver` rules over IIS lines), and the `logs` primitives underneath.

#[cfg(feature = "hunt")]
use std::sync::OnceLock;

#[cfg(feature = "hunt")]
use taskforce_evidence::PathHint;
#[cfg(feature = "hunt")]
use taskforce_hunt::scan::{self, Identify, Outcome};
use taskforce_logs::{ChunkReader, Format, Header, Record, Span, split, time};
#[cfg(feature = "hunt")]
use taskforce_rules::RuleSet;
#[cfg(feature = "hunt")]
use taskforce_sigma::SigmaSet;

use super::{MIB, ODD_CELLS};
use crate::{Rng, Target};

pub const W3C: Target = Target {
    name: "w3c",
    max_len: 64 << 10,
    dict: DICT,
    run: w3c,
    generate: Some(generate_w3c),
    fixup: None,
    max_peak: 48 * MIB,
};

pub const EXCHANGE_CSV: Target = Target {
    name: "exchange-csv",
    max_len: 64 << 10,
    dict: DICT,
    run: exchange_csv,
    generate: Some(generate_exchange),
    fixup: None,
    max_peak: 48 * MIB,
};

const DICT: &[&[u8]] = &[
    b"#Fields: ",
    b"#Software: Microsoft Exchange Server\r\n",
    b"#Software: Microsoft Internet Information Services 10.0\r\n",
    b"#Version: 1.0\r\n",
    b"#Date: 2021-03-03 00:00:00\r\n",
    b"#Log-type: HttpProxy Logs\r\n",
    b"\r\n",
    b"\n",
    b",",
    b" ",
    b"\"",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\x00",
    b"%",
    b"%2F",
    b"+",
    b"~",
    b"\xC3",
    b"2021-03-03T04:21:12.345Z",
    b"2021-03-03 04:21:12",
    b"ServerInfo~",
    b"/ecp/",
    b"/owa/auth/",
    b"/aspnet_client/",
    b"X-BEResource=",
    b"15.1.2176.2",
];

#[cfg(feature = "hunt")]
fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(RuleSet::builtin)
}

#[cfg(feature = "hunt")]
fn sigma() -> &'static SigmaSet {
    static SIGMA: OnceLock<SigmaSet> = OnceLock::new();
    SIGMA.get_or_init(SigmaSet::builtin)
}

fn w3c(data: &[u8]) {
    primitives(data, Format::W3c);
    #[cfg(feature = "hunt")]
    let outcome = scan::scan(
        Box::new(data),
        Some(data.len() as u64),
        Identify::Auto(PathHint::Iis),
        rules(),
        scan::Tuning { thorough: true, max_hits_per_rule: 1000, window: (None, None) },
        Some(sigma()),
        &|_| {},
    );
    #[cfg(feature = "hunt")]
    check(data, outcome);
}

fn exchange_csv(data: &[u8]) {
    primitives(data, Format::ExchangeCsv);
    #[cfg(feature = "hunt")]
    let outcome = scan::scan(
        Box::new(data),
        Some(data.len() as u64),
        Identify::Auto(PathHint::HttpProxy),
        rules(),
        scan::Tuning { thorough: true, max_hits_per_rule: 1000, window: (None, None) },
        None,
        &|_| {},
    );
    #[cfg(feature = "hunt")]
    check(data, outcome);
}

#[cfg(feature = "hunt")]
/// What the scan said must hold together: hits on lines that exist, a reason when unreadable.
fn check(data: &[u8], outcome: Outcome) {
    match outcome {
        Outcome::Scanned { scan, .. } => {
            let utf16 = data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]);
            let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            for hit in &scan.hits {
                assert!(hit.line >= 1, "a hit on line 0");
                assert!(utf16 || hit.line <= lines, "a hit on line {} of {lines}", hit.line);
            }
            if let (Some(first), Some(last)) = (scan.first, scan.last) {
                assert!(first <= last, "time range {first}..{last} is reversed");
            }
        }
        Outcome::NotALog(_) => {}
        Outcome::Unreadable(why) => assert!(!why.is_empty(), "unreadable without a reason"),
    }
}

/// The `logs` building blocks on their own: header sniffing, directives, both splitters, URL
/// decoding and timestamps on every line.
fn primitives(data: &[u8], format: Format) {
    let _ = Header::sniff(data);
    let mut header = Header::default();
    let mut spans: Vec<Span> = Vec::new();
    let mut reader = ChunkReader::new(data).expect("reading from memory");
    while let Some(chunk) = reader.next_chunk().expect("reading from memory") {
        for (i, line) in chunk.data.split(|&b| b == b'\n').enumerate() {
            if line.first() == Some(&b'#') {
                header.apply_directive(line);
                let _ = header.format();
            }
            let record = Record::parse(line, chunk.first_line + i as u64, format, &mut spans);
            for f in 0..record.len() + 1 {
                if let Some(v) = record.field(f) {
                    let _ = split::url_decode(&v);
                    let _ = time::parse(&v);
                }
            }
            let _ = time::find_in_line(record.line);
        }
    }
}

fn cell(usual: &str, rng: &mut Rng) -> String {
    if rng.one_in(6) { rng.pick(ODD_CELLS).to_string() } else { usual.to_string() }
}

fn generate_w3c(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::new();
    let eol = if rng.one_in(2) { "\r\n" } else { "\n" };
    if !rng.one_in(8) {
        out += &format!("#Software: Microsoft Internet Information Services 10.0{eol}#Version: 1.0{eol}");
        out += &format!("#Date: 2021-03-03 00:00:00{eol}");
    }
    let fields = [
        "date",
        "time",
        "s-ip",
        "cs-method",
        "cs-uri-stem",
        "cs-uri-query",
        "s-port",
        "cs-username",
        "c-ip",
        "cs(User-Agent)",
        "sc-status",
        "time-taken",
    ];
    let mut chosen: Vec<&str> = fields.iter().copied().filter(|_| !rng.one_in(5)).collect();
    if rng.one_in(4) {
        chosen.push(*rng.pick(&fields));
    }
    out += &format!("#Fields: {}{eol}", chosen.join(" "));
    for _ in 0..rng.below(40) {
        let values: Vec<String> = chosen
            .iter()
            .map(|f| match *f {
                "date" => cell("2021-03-03", rng),
                "time" => cell(&format!("04:{:02}:{:02}", rng.below(60), rng.below(60)), rng),
                "cs-method" => cell(if rng.one_in(2) { "GET" } else { "POST" }, rng),
                "cs-uri-stem" => {
                    let v = *rng.pick(&["/owa/", "/ecp/default.flt", "/aspnet_client/x.aspx", "/mapi/nspi/"]);
                    cell(v, rng)
                }
                "c-ip" | "s-ip" => cell("203.0.113.7", rng),
                "sc-status" => cell("200", rng),
                _ => cell("-", rng),
            })
            .map(|v| v.replace(' ', "+"))
            .collect();
        out += &values.join(" ");
        out += eol;
        if rng.one_in(20) {
            out += &format!("#Fields: {}{eol}", chosen.join(" "));
        }
    }
    out.into_bytes()
}

fn generate_exchange(rng: &mut Rng) -> Vec<u8> {
    let mut out = String::new();
    if !rng.one_in(8) {
        out += "#Software: Microsoft Exchange Server\r\n#Version: 15.01.2176.002\r\n#Log-type: HttpProxy Logs\r\n";
        out += "#Date: 2021-03-03T00:00:00.000Z\r\n";
    }
    let fields = [
        "DateTime",
        "RequestId",
        "MajorVersion",
        "MinorVersion",
        "BuildVersion",
        "RevisionVersion",
        "ServerHostName",
        "Protocol",
        "UrlStem",
        "AuthenticatedUser",
        "AnchorMailbox",
        "ClientIpAddress",
        "HttpStatus",
        "BackEndCookie",
        "TargetServer",
        "UrlQuery",
        "GenericErrors",
    ];
    let mut chosen: Vec<&str> = fields.iter().copied().filter(|_| !rng.one_in(6)).collect();
    if rng.one_in(4) {
        chosen.insert(rng.below(chosen.len() + 1), "");
    }
    out += &format!("#Fields: {}\r\n", chosen.join(","));
    for _ in 0..rng.below(40) {
        let values: Vec<String> = chosen
            .iter()
            .map(|f| match *f {
                "DateTime" => cell(&format!("2021-03-03T04:{:02}:{:02}.123Z", rng.below(60), rng.below(60)), rng),
                "MajorVersion" => cell("15", rng),
                "MinorVersion" => cell("1", rng),
                "BuildVersion" => cell("2176", rng),
                "RevisionVersion" => cell("2", rng),
                "ServerHostName" => cell("EX01", rng),
                "Protocol" => cell("Ecp", rng),
                "UrlStem" => {
                    let v = *rng.pick(&["/ecp/y.js", "/owa/", "/autodiscover/autodiscover.json"]);
                    cell(v, rng)
                }
                "AnchorMailbox" => cell("ServerInfo~a]@EX01:444/ecp/proxyLogon.ecp", rng),
                "ClientIpAddress" => cell("203.0.113.7", rng),
                "HttpStatus" => cell("241", rng),
                _ => cell("", rng),
            })
            .map(|v| if v.contains(',') && !v.starts_with('"') { format!("\"{}\"", v.replace('"', "\"\"")) } else { v })
            .collect();
        out += &values.join(",");
        out += "\r\n";
    }
    out.into_bytes()
}
