//! Writers of the records: one JSON line per target (`taskforce.probe.v1`) or CSV rows.
//!
//! Each record is written and flushed as its target finishes (one write per line), so a
//! consumer (`tail -f`, `jq`, the service's ingest) sees results during a long run and an
//! interrupted run loses nothing that was reported.

use std::io::{self, Write};

use taskforce_builds::Family;

use crate::record::Record;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

/// The CSV header: a flat subset of the JSON line, one status column per family.
pub const CSV_COLUMNS: [&str; 27] = [
    "time",
    "target",
    "input",
    "scheme",
    "address",
    "port",
    "reachable",
    "exchange",
    "build",
    "precision",
    "method",
    "product",
    "cu",
    "proxylogon",
    "proxyshell",
    "proxynotshell",
    "http_status",
    "server",
    "tls_subject",
    "tls_issuer",
    "tls_not_after",
    "tls_expired",
    "tls_sha256",
    "requests",
    "total_ms",
    "error_kind",
    "error",
];

/// Streams records to a writer in one format.
pub struct RecordWriter<W: Write> {
    inner: Inner<W>,
}

enum Inner<W: Write> {
    Jsonl(io::BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> RecordWriter<W> {
    /// Starts the output (the CSV header is written at once).
    pub fn new(out: W, format: Format) -> io::Result<RecordWriter<W>> {
        let inner = match format {
            Format::Jsonl => Inner::Jsonl(io::BufWriter::new(out)),
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(CSV_COLUMNS)?;
                Inner::Csv(Box::new(csv))
            }
        };
        let mut writer = RecordWriter { inner };
        writer.flush()?;
        Ok(writer)
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match &mut self.inner {
            Inner::Jsonl(out) => {
                serde_json::to_writer(&mut *out, record)?;
                out.write_all(b"\n")?;
            }
            Inner::Csv(csv) => csv.write_record(csv_row(record))?,
        }
        self.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Jsonl(out) => out.flush(),
            Inner::Csv(csv) => csv.flush(),
        }
    }
}

fn csv_row(r: &Record) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let status = |family| opt(r.status_of(family).map(|s| s.to_string()));
    let tls = r.tls.as_ref();
    vec![
        r.time.clone(),
        r.target.clone(),
        r.input.clone(),
        r.scheme.to_string(),
        opt(r.address.map(|a| a.to_string())),
        r.port.to_string(),
        r.reachable.to_string(),
        r.exchange.to_string(),
        opt(r.build.map(|b| b.to_string())),
        opt(r.precision.map(|p| p.to_string())),
        opt(r.method.map(|m| m.as_str().to_owned())),
        opt(r.product.clone()),
        opt(r.cu.clone()),
        status(Family::ProxyLogon),
        status(Family::ProxyShell),
        status(Family::ProxyNotShell),
        opt(r.http_status.map(|s| s.to_string())),
        opt(r.server.clone()),
        opt(tls.map(|t| t.subject.clone())),
        opt(tls.map(|t| t.issuer.clone())),
        opt(tls.and_then(|t| t.not_after.clone())),
        opt(tls.map(|t| t.expired.to_string())),
        opt(tls.map(|t| t.sha256.clone())),
        r.requests.to_string(),
        r.timings.total_ms.to_string(),
        opt(r.error.as_ref().map(|e| e.kind.as_str().to_owned())),
        opt(r.error.as_ref().map(|e| e.message.clone())),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::targets::{Host, Scheme, Target};

    fn record() -> Record {
        let target = Target {
            host: Host::Ip("192.0.2.7".parse().unwrap()),
            port: 443,
            scheme: Scheme::Https,
            input: Arc::from("192.0.2.0/24"),
        };
        let mut r = Record::new(&target);
        r.reachable = true;
        r.exchange = true;
        let build = "15.1.2176.2".parse().unwrap();
        r.build = Some(build);
        r.precision = Some(build.precision());
        r.patch = taskforce_builds::BuildTable::builtin().patch_status(&build);
        r
    }

    #[test]
    fn jsonl_is_one_object_per_line_with_the_schema() {
        let mut out = Vec::new();
        let mut w = RecordWriter::new(&mut out, Format::Jsonl).unwrap();
        w.write(&record()).unwrap();
        w.write(&record()).unwrap();
        w.flush().unwrap();
        drop(w);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["schema"], "taskforce.probe.v1");
        assert_eq!(v["address"], "192.0.2.7");
        assert_eq!(v["build"], "15.1.2176.2");
        assert_eq!(v["precision"], "full");
        assert_eq!(v["patch"][0]["family"], "ProxyLogon");
        assert_eq!(v["patch"][0]["status"], "vulnerable");
        assert_eq!(v["patch"][0]["fixed_in"], "15.1.2176.9");
        assert_eq!(v["error"], serde_json::Value::Null);
    }

    #[test]
    fn csv_has_the_documented_columns() {
        let mut out = Vec::new();
        let mut w = RecordWriter::new(&mut out, Format::Csv).unwrap();
        w.write(&record()).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), CSV_COLUMNS);
        let row = reader.records().next().unwrap().unwrap();
        let get = |name| row.get(CSV_COLUMNS.iter().position(|c| *c == name).unwrap()).unwrap().to_owned();
        assert_eq!(get("build"), "15.1.2176.2");
        assert_eq!(get("proxylogon"), "vulnerable");
        assert_eq!(get("proxynotshell"), "vulnerable");
        assert_eq!(get("input"), "192.0.2.0/24");
        assert_eq!(get("error_kind"), "");
    }
}
