//! Shadowserver `scan_exchange` / `scan6_exchange` CSV, driven by the header (columns may be
//! missing, extra, duplicated or reordered). The tag decides: `webshell` → compromised, a
//! `cve-…` token (or a build the table calls vulnerable) → vulnerable, otherwise exposed.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::{FileError, Item, Observed, RowError, Target, build_signal, nonempty};
use crate::state::Signal;

const EXPECTED: &str = "Shadowserver scan_exchange CSV";

/// Column positions by name (first occurrence wins).
struct Columns {
    names: Vec<String>,
    ip: usize,
    timestamp: usize,
    port: Option<usize>,
    hostname: Option<usize>,
    tag: Option<usize>,
    asn: Option<usize>,
    geo: Option<usize>,
    version: Option<usize>,
    servername: Option<usize>,
    url: Option<usize>,
    /// The columns the stored row (`detail`) keeps: named, first occurrence of each name, in
    /// name order (the order `serde_json`'s map wrote them in before).
    detail: Vec<(String, usize)>,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> Result<Columns, FileError> {
        let names: Vec<String> = header
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |name: &str| names.iter().position(|n| n == name);
        let mut detail: Vec<(String, usize)> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if !name.is_empty() && !detail.iter().any(|(n, _)| n == name) {
                detail.push((name.clone(), i));
            }
        }
        detail.sort();
        let missing = |col: &str| FileError::WrongFormat {
            expected: EXPECTED,
            why: format!("the header has no {col:?} column (found: {})", names.join(",")),
        };
        Ok(Columns {
            ip: find("ip").ok_or_else(|| missing("ip"))?,
            timestamp: find("timestamp").ok_or_else(|| missing("timestamp"))?,
            port: find("port"),
            hostname: find("hostname"),
            tag: find("tag"),
            asn: find("asn"),
            geo: find("geo"),
            version: find("version"),
            servername: find("servername"),
            url: find("url"),
            detail,
            names,
        })
    }
}

fn ends_with_newline(path: &Path) -> Result<bool, FileError> {
    let mut f = std::fs::File::open(path).map_err(|e| FileError::Io(e.to_string()))?;
    let len = f.metadata().map_err(|e| FileError::Io(e.to_string()))?.len();
    if len == 0 {
        return Err(FileError::Empty);
    }
    f.seek(SeekFrom::Start(len - 1)).map_err(|e| FileError::Io(e.to_string()))?;
    let mut last = [0u8];
    f.read_exact(&mut last).map_err(|e| FileError::Io(e.to_string()))?;
    Ok(last[0] == b'\n')
}

pub fn parse(path: &Path, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    let terminated = ends_with_newline(path)?;
    let file = std::fs::File::open(path).map_err(|e| FileError::Io(e.to_string()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 16, file));
    let header = reader.byte_headers().map_err(|e| FileError::Io(e.to_string()))?.clone();
    if std::str::from_utf8(header.as_slice()).is_err() {
        return Err(FileError::NotUtf8 { line: 1 });
    }
    let cols = Columns::from_header(&header)?;
    let mut record = csv::ByteRecord::new();
    let mut pending: Option<(u64, csv::ByteRecord)> = None;
    loop {
        if !reader.read_byte_record(&mut record).map_err(|e| FileError::Io(e.to_string()))? {
            break;
        }
        // Hold one record back: only the last one can be a truncated one.
        if let Some((line, prev)) = pending.take() {
            row(&cols, line, &prev, each)?;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        pending = Some((line, record.clone()));
    }
    if let Some((line, last)) = pending {
        if !terminated && last.len() < cols.names.len() {
            return Err(FileError::Truncated { line });
        }
        row(&cols, line, &last, each)?;
    }
    Ok(())
}

fn row(cols: &Columns, line: u64, rec: &csv::ByteRecord, each: &mut dyn FnMut(Item)) -> Result<(), FileError> {
    if std::str::from_utf8(rec.as_slice()).is_err() {
        return Err(FileError::NotUtf8 { line });
    }
    let get = |i: Option<usize>| {
        i.and_then(|i| rec.get(i)).map(|b| std::str::from_utf8(b).unwrap_or("").trim()).unwrap_or("")
    };
    let bad = |message: String| Item::Bad(RowError { line, message });
    if rec.len() == 1 && get(Some(0)).is_empty() {
        return Ok(()); // blank line
    }
    let ip_text = get(Some(cols.ip));
    let Ok(ip) = ip_text.parse::<std::net::IpAddr>() else {
        each(bad(format!("bad IP address {ip_text:?}")));
        return Ok(());
    };
    let ts = get(Some(cols.timestamp));
    let Some(observed_at) = crate::time::parse(ts) else {
        each(bad(format!("bad timestamp {ts:?}")));
        return Ok(());
    };
    let port_text = get(cols.port);
    let port = if port_text.is_empty() {
        None
    } else {
        match port_text.parse::<u16>() {
            Ok(p) => Some(p as i64),
            Err(_) => {
                each(bad(format!("bad port {port_text:?}")));
                return Ok(());
            }
        }
    };
    let tag = get(cols.tag).to_ascii_lowercase();
    let tags: Vec<&str> = tag.split(';').map(str::trim).filter(|t| !t.is_empty()).collect();
    let version = nonempty(get(cols.version));
    let url = nonempty(get(cols.url));
    let mut signals = Vec::new();
    let mut findings = Vec::new();
    if tags.iter().any(|t| t.contains("webshell")) {
        signals.push(Signal::Compromised);
        findings.push(format!("webshell:{}", url.as_deref().unwrap_or("unknown")));
    }
    let cves: Vec<&&str> = tags.iter().filter(|t| t.starts_with("cve-")).collect();
    if !cves.is_empty() {
        signals.insert(0, Signal::Vulnerable);
        findings.extend(cves.iter().map(|c| format!("vulnerable:{c}")));
    } else if let Some((signal, build_findings)) = build_signal(version.as_deref()) {
        signals.insert(0, signal);
        findings.extend(build_findings);
    }
    if signals.is_empty() {
        signals.push(Signal::Seen);
    }
    let asn_text = get(cols.asn);
    let asn_reported = asn_text.parse::<i64>().ok().filter(|a| *a > 0);
    // The source row as a JSON object, written directly (a map of owned strings per row was a
    // tenth of the ingest's CPU time).
    let mut detail = Vec::with_capacity(rec.as_slice().len() + 16 * cols.detail.len());
    detail.push(b'{');
    for (n, (name, i)) in cols.detail.iter().enumerate() {
        if n > 0 {
            detail.push(b',');
        }
        let value = rec.get(*i).map(|b| std::str::from_utf8(b).unwrap_or("")).unwrap_or("");
        serde_json::to_writer(&mut detail, name.as_str()).expect("writing to memory");
        detail.push(b':');
        serde_json::to_writer(&mut detail, value).expect("writing to memory");
    }
    detail.push(b'}');
    let detail = String::from_utf8(detail).expect("JSON of UTF-8 text");
    let day = &observed_at[..10];
    let natural_key = format!("shadowserver|{ip}|{}|{}|{day}", port.unwrap_or(0), tags.join(";"));
    each(Item::Row(Box::new(Observed {
        line,
        target: Target::Ip(ip),
        observed_at,
        signals,
        port,
        tags: (!tags.is_empty()).then(|| tags.join(";")),
        version,
        url,
        hostname: nonempty(get(cols.hostname)),
        servername: nonempty(get(cols.servername)),
        asn_reported,
        cc_reported: nonempty(get(cols.geo)),
        findings,
        natural_key,
        detail,
    })));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "\"timestamp\",\"ip\",\"port\",\"hostname\",\"tag\",\"asn\",\"geo\",\"region\",\"city\",\"naics\",\"sic\",\"sector\",\"version\",\"servername\",\"url\"\n";

    fn run(text: &[u8]) -> Result<(Vec<Observed>, Vec<RowError>), FileError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        parse(f.path(), &mut |item| match item {
            Item::Row(o) => ok.push(*o),
            Item::Bad(b) | Item::Warning(b) => bad.push(b),
        })?;
        Ok((ok, bad))
    }

    #[test]
    fn tags_decide_the_signal() {
        let text = format!(
            "{HEADER}\"2021-03-15 02:14:07\",\"192.0.2.10\",443,\"mail.example\",\"exchange;cve-2021-26855\",64496,\"US\",,,,,,\"15.1.2106\",\"EXCH01\",\n\"2021-03-15 02:14:09\",\"198.51.100.77\",443,,\"exchange;webshell\",64497,\"US\",,,,,,\"15.0.1497\",\"CLINIC\",\"/aspnet_client/a.aspx\"\n\"2021-03-15 02:14:11\",\"2001:db8::25\",443,,\"exchange\",0,,,,,,,,\"MAIL\",\n"
        );
        let (ok, bad) = run(text.as_bytes()).unwrap();
        assert!(bad.is_empty());
        assert_eq!(ok[0].signals, vec![Signal::Vulnerable]);
        assert_eq!(ok[0].findings, vec!["vulnerable:cve-2021-26855"]);
        assert_eq!(ok[0].line, 2);
        assert_eq!(ok[1].signals, vec![Signal::Compromised]);
        assert_eq!(ok[1].findings, vec!["webshell:/aspnet_client/a.aspx"]);
        assert_eq!(ok[2].signals, vec![Signal::Seen]);
        assert_eq!(ok[2].asn_reported, None);
    }

    #[test]
    fn bad_rows_are_reported_with_line_numbers() {
        let text = format!(
            "{HEADER}\"x\",\"192.0.2.1\",443\n\"2021-03-15 02:14:07\",\"not-an-ip\",443\n\"2021-03-15 02:14:07\",\"192.0.2.2\",\"https\"\n\"2021-03-15 02:14:07\",\"192.0.2.3\",443\n"
        );
        let (ok, bad) = run(text.as_bytes()).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    #[test]
    fn header_driven_with_bom_and_reordered_columns() {
        let (ok, _) =
            run("\u{feff}ip,TAG,timestamp\n192.0.2.5,exchange;webshell,2021-03-12T10:00:00Z\n".as_bytes()).unwrap();
        assert_eq!(ok[0].signals, vec![Signal::Compromised]);
    }

    #[test]
    fn file_level_errors() {
        assert!(matches!(run(b"a,b,c\n1,2,3\n"), Err(FileError::WrongFormat { .. })));
        assert!(matches!(run(b""), Err(FileError::Empty)));
        let trunc = format!("{HEADER}\"2021-03-15 02:14:07\",\"192.0.2.10\",443,\"mail");
        assert!(matches!(run(trunc.as_bytes()), Err(FileError::Truncated { line: 2 })));
        let mut latin1 = format!("{HEADER}\"2021-03-15 02:14:07\",\"192.0.2.10\",443,\"").into_bytes();
        latin1.extend_from_slice(b"caf\xe9\",\"exchange\"\n");
        assert!(matches!(run(&latin1), Err(FileError::NotUtf8 { line: 2 })));
    }

    #[test]
    fn the_real_sample_parses() {
        let Some(path) =
            taskforce_corpus::path("the_real_sample_parses", "feeds/shadowserver-scan_exchange-sample.csv")
        else {
            return;
        };
        let (mut ok, mut bad) = (0, 0);
        parse(&path, &mut |i| match i {
            Item::Row(_) => ok += 1,
            Item::Bad(_) | Item::Warning(_) => bad += 1,
        })
        .unwrap();
        assert_eq!((ok, bad), (7, 0));
    }
}
