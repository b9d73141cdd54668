//! Enrichment from offline files: IP → ASN ranges (iptoasn TSV, `start,end,asn` or
//! `network,asn` CSV, MaxMind ASN MMDB) and network/ASN → organisation. Everything is loaded
//! from the database into sorted vectors and hash maps once per ingest, so a lookup is a binary
//! search plus a few hash probes (fast enough for millions of rows).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use sqlx::Row;

use crate::db::Db;

/// An address as a 128-bit key: IPv4 is mapped into `::ffff:0:0/96`, so one ordered space holds both.
pub fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Prefix length in the 128-bit key space.
fn key_prefix_len(net: &IpNet) -> u8 {
    match net {
        IpNet::V4(n) => n.prefix_len() + 96,
        IpNet::V6(n) => n.prefix_len(),
    }
}

/// The key as 32 hex digits (text order = address order, for the `ip_asn` table).
pub fn key_hex(key: u128) -> String {
    format!("{key:032x}")
}

fn net_bounds(net: &IpNet) -> (u128, u128) {
    (ip_key(net.network()), ip_key(net.broadcast()))
}

/// One IP range of an ASN file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnRange {
    pub start: u128,
    pub end: u128,
    pub asn: i64,
    pub as_name: Option<String>,
    pub cc: Option<String>,
}

/// A line of an ASN file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub message: String,
}

fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    let file = std::fs::File::open(path)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().trim_matches('"').parse().ok()
}

/// Reads an iptoasn TSV (`start \t end \t asn \t cc \t description`, gzip or not) or a CSV of
/// `start,end,asn[,name]` / `network,asn[,name]` (header optional: ip-location-db and GeoLite2
/// CSV layouts). Unrouted rows (ASN 0) are dropped, not errors.
pub fn read_asn_text(path: &Path, mut each: impl FnMut(Result<AsnRange, BadLine>)) -> Result<()> {
    let reader = open_maybe_gz(path)?;
    let mut saw_data = false;
    for (index, line) in reader.split(b'\n').enumerate() {
        let line_no = index as u64 + 1;
        let bytes = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            each(Err(BadLine { line: line_no, message: "not UTF-8".into() }));
            continue;
        };
        let text = text.trim_end_matches('\r').trim_start_matches('\u{feff}');
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        let sep = if text.contains('\t') { '\t' } else { ',' };
        let fields: Vec<&str> = split_fields(text, sep);
        match parse_asn_fields(&fields) {
            Ok(Some(range)) => {
                saw_data = true;
                each(Ok(range));
            }
            Ok(None) => saw_data = true,
            Err(message) => {
                // A header line (first line, first field not an address) is not an error.
                if !saw_data && index == 0 && parse_ip(fields[0]).is_none() && !fields[0].contains('/') {
                    continue;
                }
                each(Err(BadLine { line: line_no, message }));
            }
        }
    }
    Ok(())
}

/// Splits one line on `sep`, honouring double quotes (names with commas).
fn split_fields(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(text[start..i].trim().trim_matches('"'));
            start = i + 1;
        }
    }
    out.push(text[start..].trim().trim_matches('"'));
    out
}

fn parse_asn(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let digits = s.strip_prefix("AS").or_else(|| s.strip_prefix("as")).unwrap_or(s);
    digits.parse::<i64>().ok().filter(|n| (0..=u32::MAX as i64).contains(n)).ok_or(format!("bad ASN {s:?}"))
}

fn parse_asn_fields(f: &[&str]) -> Result<Option<AsnRange>, String> {
    let nonempty = |s: &&&str| !s.is_empty();
    if f.first().is_some_and(|s| s.contains('/')) {
        // network,asn[,name]
        let net: IpNet = f[0].parse().map_err(|_| format!("bad network {:?}", f[0]))?;
        let asn = parse_asn(f.get(1).ok_or("missing ASN column")?)?;
        if asn == 0 {
            return Ok(None);
        }
        let (start, end) = net_bounds(&net);
        let name = f.get(2).filter(nonempty).map(|s| s.to_string());
        return Ok(Some(AsnRange { start, end, asn, as_name: name, cc: None }));
    }
    if f.len() < 3 {
        return Err(format!("expected start, end and ASN, found {} field(s)", f.len()));
    }
    let start = parse_ip(f[0]).ok_or(format!("bad start address {:?}", f[0]))?;
    let end = parse_ip(f[1]).ok_or(format!("bad end address {:?}", f[1]))?;
    if start.is_ipv4() != end.is_ipv4() || ip_key(start) > ip_key(end) {
        return Err(format!("bad range {}-{}", f[0], f[1]));
    }
    let asn = parse_asn(f[2])?;
    if asn == 0 {
        return Ok(None);
    }
    // iptoasn: start, end, asn, cc, description; CSV: start, end, asn, name.
    let (cc, name) = if f.len() >= 5 {
        (Some(f[3]).filter(|s| s.len() == 2 && *s != "None").map(str::to_string), f.get(4).filter(nonempty))
    } else {
        (None, f.get(3).filter(nonempty))
    };
    Ok(Some(AsnRange {
        start: ip_key(start),
        end: ip_key(end),
        asn,
        as_name: name.filter(|s| **s != "Not routed").map(|s| s.to_string()),
        cc,
    }))
}

/// Reads every network of a MaxMind ASN database (GeoLite2-ASN or compatible).
pub fn read_asn_mmdb(path: &Path, mut each: impl FnMut(Result<AsnRange, BadLine>)) -> Result<()> {
    let reader = maxminddb::Reader::open_readfile(path)
        .with_context(|| format!("{} is not a MaxMind database", path.display()))?;
    if !reader.metadata().database_type.to_ascii_lowercase().contains("asn") {
        bail!("{} is a MaxMind {:?} database, not an ASN database", path.display(), reader.metadata().database_type);
    }
    // A well-formed search tree of N nodes has at most N + 1 networks. A damaged one can point
    // nodes back at each other, and the iterator would then walk exponentially many paths (found
    // by fuzzing: a 900-byte file that never finished); refuse it instead.
    let most = u64::from(reader.metadata().node_count).saturating_add(1);
    for (index, item) in reader.networks(Default::default())?.enumerate() {
        let line = index as u64 + 1;
        if line > most {
            bail!(
                "{} is not a well-formed MaxMind database: its search tree of {} nodes yields more than {most} networks (nodes shared or in a cycle)",
                path.display(),
                most - 1
            );
        }
        let result = item.map_err(|e| e.to_string()).and_then(|lookup| {
            let net = lookup.network().map_err(|e| e.to_string())?;
            let record: Option<maxminddb::geoip2::Asn> = lookup.decode().map_err(|e| e.to_string())?;
            Ok((net, record))
        });
        match result {
            Ok((net, Some(record))) => {
                let Some(asn) = record.autonomous_system_number else { continue };
                let net = IpNet::new(net.ip(), net.prefix()).map_err(|e| anyhow::anyhow!("{e}"))?;
                let (start, end) = net_bounds(&net);
                each(Ok(AsnRange {
                    start,
                    end,
                    asn: asn as i64,
                    as_name: record.autonomous_system_organization.map(str::to_string),
                    cc: None,
                }));
            }
            Ok((_, None)) => {}
            Err(message) => each(Err(BadLine { line, message })),
        }
    }
    Ok(())
}

/// The answer for one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrichment {
    pub asn: Option<i64>,
    /// `ingest:<id>` of the mapping file, or `feed` when only the feed's own ASN was known.
    pub asn_source: Option<String>,
    pub cc: Option<String>,
    pub org_id: Option<i64>,
    /// Why this organisation: `network:<cidr>` or `asn:<n>`.
    pub org_via: Option<String>,
}

#[derive(Debug, Clone)]
struct Range {
    start: u128,
    end: u128,
    asn: i64,
    cc: Option<String>,
    ingest_id: i64,
}

#[derive(Debug, Clone)]
struct NetOwner {
    org_id: i64,
    manual: bool,
    cidr: String,
}

/// In-memory lookup tables, loaded from the database.
#[derive(Debug, Default)]
pub struct Enricher {
    ranges: Vec<Range>,
    /// Per prefix length (longest first): network key → owner.
    networks: Vec<(u8, HashMap<u128, NetOwner>)>,
    asns: HashMap<i64, (i64, bool)>,
}

impl Enricher {
    /// The mappings as committed now. Kept in memory per `Db` and re-read only when
    /// `mapping_version` (bumped by triggers on every mapping change, migration 0007) moved, so
    /// a small upload or an analyst record costs one row read here, not every mapping.
    pub async fn load(db: &Db) -> Result<Arc<Enricher>> {
        // The version first: a change committing during the read below moves it again, so at
        // worst the next call reads once more; never an old table under a new version.
        let version: i64 =
            sqlx::query("SELECT n FROM mapping_version WHERE id = 1").fetch_one(&db.pool).await?.try_get(0)?;
        Enricher::cached_or_read(db, version).await
    }

    /// [`Enricher::load`] with the version read through `conn` (the caller's transaction, locked
    /// for writing): the group-commit writer (`writer`) must not wait for a pool connection the
    /// readers hold. Only a changed mapping is read through the pool.
    pub async fn load_in(db: &Db, conn: &mut sqlx::AnyConnection) -> Result<Arc<Enricher>> {
        let version: i64 =
            sqlx::query("SELECT n FROM mapping_version WHERE id = 1").fetch_one(&mut *conn).await?.try_get(0)?;
        Enricher::cached_or_read(db, version).await
    }

    /// The kept mappings if they are of `version`, else read again.
    async fn cached_or_read(db: &Db, version: i64) -> Result<Arc<Enricher>> {
        if let Some((v, e)) = db.enricher_cache.lock().map_err(|_| anyhow::anyhow!("enricher cache poisoned"))?.as_ref()
            && *v == version
        {
            return Ok(e.clone());
        }
        let fresh = Arc::new(Enricher::read(db).await?);
        *db.enricher_cache.lock().map_err(|_| anyhow::anyhow!("enricher cache poisoned"))? =
            Some((version, fresh.clone()));
        Ok(fresh)
    }

    /// Every mapping read from the database.
    async fn read(db: &Db) -> Result<Enricher> {
        let mut ranges = Vec::new();
        let rows = sqlx::query("SELECT start_key, end_key, asn, cc, ingest_id FROM ip_asn").fetch_all(&db.pool).await?;
        for row in rows {
            let start: String = row.try_get(0)?;
            let end: String = row.try_get(1)?;
            ranges.push(Range {
                start: u128::from_str_radix(&start, 16)?,
                end: u128::from_str_radix(&end, 16)?,
                asn: row.try_get(2)?,
                cc: row.try_get(3)?,
                ingest_id: row.try_get(4)?,
            });
        }
        // Newest import first among equal starts, so re-imported data wins.
        ranges.sort_by(|a, b| a.start.cmp(&b.start).then(b.ingest_id.cmp(&a.ingest_id)));

        let mut by_len: HashMap<u8, HashMap<u128, NetOwner>> = HashMap::new();
        for row in sqlx::query("SELECT cidr, org_id, managed FROM org_network").fetch_all(&db.pool).await? {
            let cidr: String = row.try_get(0)?;
            let Ok(net) = cidr.parse::<IpNet>() else { continue };
            let manual = row.try_get::<String, _>(2)? == "manual";
            let owner = NetOwner { org_id: row.try_get(1)?, manual, cidr };
            let slot = by_len.entry(key_prefix_len(&net)).or_default();
            let key = ip_key(net.network());
            match slot.get(&key) {
                Some(existing) if existing.manual && !manual => {}
                _ => {
                    slot.insert(key, owner);
                }
            }
        }
        let mut networks: Vec<(u8, HashMap<u128, NetOwner>)> = by_len.into_iter().collect();
        networks.sort_by_key(|n| std::cmp::Reverse(n.0));

        let mut asns = HashMap::new();
        for row in sqlx::query("SELECT asn, org_id, managed FROM org_asn").fetch_all(&db.pool).await? {
            let asn: i64 = row.try_get(0)?;
            let org: i64 = row.try_get(1)?;
            let manual = row.try_get::<String, _>(2)? == "manual";
            match asns.get(&asn) {
                Some((_, true)) if !manual => {}
                _ => {
                    asns.insert(asn, (org, manual));
                }
            }
        }
        Ok(Enricher { ranges, networks, asns })
    }

    /// The ASN range holding `key`: the narrowest of the ranges that start at or before it (a
    /// few steps back cover nested ranges from mixed sources).
    fn range_of(&self, key: u128) -> Option<&Range> {
        let idx = self.ranges.partition_point(|r| r.start <= key);
        let mut best: Option<&Range> = None;
        for r in self.ranges[..idx].iter().rev().take(16) {
            if r.end >= key && best.is_none_or(|b| r.end - r.start < b.end - b.start) {
                best = Some(r);
            }
        }
        best
    }

    /// Enriches one address; `reported_asn`/`reported_cc` (the feed's own) are fallbacks.
    pub fn lookup(&self, ip: IpAddr, reported_asn: Option<i64>, reported_cc: Option<&str>) -> Enrichment {
        let key = ip_key(ip);
        let mut e = Enrichment::default();
        if let Some(r) = self.range_of(key) {
            e.asn = Some(r.asn);
            e.asn_source = Some(format!("ingest:{}", r.ingest_id));
            e.cc = r.cc.clone();
        } else if let Some(asn) = reported_asn.filter(|a| *a > 0) {
            e.asn = Some(asn);
            e.asn_source = Some("feed".into());
        }
        if e.cc.is_none() {
            e.cc = reported_cc.filter(|c| !c.is_empty()).map(|c| c.to_ascii_uppercase());
        }
        for (len, table) in &self.networks {
            let mask = if *len == 0 { 0 } else { u128::MAX << (128 - *len as u32) };
            if let Some(owner) = table.get(&(key & mask)) {
                e.org_id = Some(owner.org_id);
                e.org_via = Some(format!("network:{}", owner.cidr));
                return e;
            }
        }
        if let Some(asn) = e.asn
            && let Some((org, _)) = self.asns.get(&asn)
        {
            e.org_id = Some(*org);
            e.org_via = Some(format!("asn:{asn}"));
        }
        e
    }

    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn ranges_of(text: &str) -> (Vec<AsnRange>, Vec<BadLine>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        read_asn_text(f.path(), |r| match r {
            Ok(r) => ok.push(r),
            Err(b) => bad.push(b),
        })
        .unwrap();
        (ok, bad)
    }

    #[test]
    fn reads_iptoasn_tsv_and_csv_forms() {
        let (ok, bad) = ranges_of(
            "192.0.2.0\t192.0.2.255\t64496\tUS\tEXAMPLE-NET\n198.51.100.0\t198.51.100.255\t0\tNone\tNot routed\n2001:db8::\t2001:db8::ffff\t64497\tDE\tSIX\nnot\tan\tentry\n",
        );
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].asn, 64496);
        assert_eq!(ok[0].cc.as_deref(), Some("US"));
        assert_eq!(ok[1].as_name.as_deref(), Some("SIX"));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);

        let (ok, bad) = ranges_of(
            "network,autonomous_system_number,autonomous_system_organization\n203.0.113.0/24,64511,\"Example, Inc.\"\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok[0].as_name.as_deref(), Some("Example, Inc."));
        let (ok, _) = ranges_of("192.0.2.0,192.0.2.127,AS64500,Half\n");
        assert_eq!(ok[0].asn, 64500);
    }

    #[test]
    fn reads_the_maxmind_test_database() {
        let Some(path) = taskforce_corpus::path("reads_the_maxmind_test_database", "enrichment/GeoLite2-ASN-Test.mmdb")
        else {
            return;
        };
        let mut ranges = Vec::new();
        read_asn_mmdb(&path, |r| ranges.push(r.unwrap())).unwrap();
        assert!(ranges.len() > 100, "{}", ranges.len());
        let key = ip_key("1.0.0.1".parse().unwrap());
        let hit = ranges.iter().find(|r| r.start <= key && key <= r.end).unwrap();
        assert_eq!(hit.asn, 15169);
        assert_eq!(hit.as_name.as_deref(), Some("Google Inc."));
    }

    #[test]
    fn most_specific_network_wins_then_manual() {
        let mut e = Enricher::default();
        let mut by24 = HashMap::new();
        by24.insert(
            ip_key("192.0.2.0".parse().unwrap()),
            NetOwner { org_id: 2, manual: false, cidr: "192.0.2.0/24".into() },
        );
        let mut by16 = HashMap::new();
        by16.insert(
            ip_key("192.0.0.0".parse().unwrap()),
            NetOwner { org_id: 1, manual: true, cidr: "192.0.0.0/16".into() },
        );
        e.networks = vec![(120, by24), (112, by16)];
        e.asns.insert(64496, (3, false));
        e.ranges = vec![Range {
            start: ip_key("192.0.0.0".parse().unwrap()),
            end: ip_key("192.0.255.255".parse().unwrap()),
            asn: 64496,
            cc: None,
            ingest_id: 1,
        }];
        assert_eq!(e.lookup("192.0.2.9".parse().unwrap(), None, None).org_id, Some(2));
        assert_eq!(e.lookup("192.0.3.9".parse().unwrap(), None, None).org_id, Some(1));
        let other = e.lookup("192.0.200.1".parse().unwrap(), None, None);
        assert_eq!(other.org_id, Some(1));
        let outside = e.lookup("198.51.100.1".parse().unwrap(), Some(64496), Some("us"));
        assert_eq!(
            (outside.org_id, outside.asn_source.as_deref(), outside.cc.as_deref()),
            (Some(3), Some("feed"), Some("US"))
        );
    }
}
