//! A minimal writer of MaxMind DB files (format version 2.0, from the public specification):
//! enough to make small ASN databases for seeds and for the `mmdb` target's generator, so the
//! fuzz corpus never needs a third-party database file.
//!
//! Layout: the search tree (one node per prefix bit, two records each), 16 zero bytes, the data
//! section (one map per network), then `\xAB\xCD\xEFMaxMind.com` and the metadata map.

/// One network of the database.
#[derive(Debug, Clone)]
pub struct Network {
    /// The address, in the low 32 bits for IPv4 databases.
    pub addr: u128,
    pub prefix: u8,
    pub asn: Option<u32>,
    pub org: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

/// The bytes of a database of `networks` (`ip_version` 4 or 6; `record_size` 24, 28 or 32).
pub fn write(ip_version: u16, record_size: u16, networks: &[Network]) -> Vec<u8> {
    let bits: u32 = if ip_version == 4 { 32 } else { 128 };
    let mut data = Vec::new();
    let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    for net in networks {
        let offset = data.len();
        let pairs = usize::from(net.asn.is_some()) + usize::from(net.org.is_some());
        control(&mut data, 7, pairs);
        if let Some(asn) = net.asn {
            string(&mut data, "autonomous_system_number");
            uint(&mut data, 6, u64::from(asn));
        }
        if let Some(org) = &net.org {
            string(&mut data, "autonomous_system_organization");
            string(&mut data, org);
        }
        let prefix = u32::from(net.prefix).clamp(1, bits);
        let mut node = 0;
        for depth in 0..prefix {
            let bit = ((net.addr >> (bits - 1 - depth)) & 1) as usize;
            if depth + 1 == prefix {
                nodes[node][bit] = Record::Data(offset);
                break;
            }
            node = match nodes[node][bit] {
                Record::Node(next) => next,
                other => {
                    // A shorter network covered this one: its data stays on both halves.
                    nodes.push([other; 2]);
                    let next = nodes.len() - 1;
                    nodes[node][bit] = Record::Node(next);
                    next
                }
            };
        }
    }
    let count = nodes.len();
    let value = |r: Record| -> u64 {
        match r {
            Record::Empty => count as u64,
            Record::Node(n) => n as u64,
            Record::Data(off) => (count + 16 + off) as u64,
        }
    };
    let mut out = Vec::new();
    for [left, right] in nodes {
        let (l, r) = (value(left), value(right));
        match record_size {
            24 => {
                out.extend_from_slice(&l.to_be_bytes()[5..]);
                out.extend_from_slice(&r.to_be_bytes()[5..]);
            }
            28 => {
                out.extend_from_slice(&l.to_be_bytes()[5..]);
                out.push((((l >> 24) & 0x0f) << 4 | ((r >> 24) & 0x0f)) as u8);
                out.extend_from_slice(&r.to_be_bytes()[5..]);
            }
            _ => {
                out.extend_from_slice(&l.to_be_bytes()[4..]);
                out.extend_from_slice(&r.to_be_bytes()[4..]);
            }
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    control(&mut out, 7, 9);
    string(&mut out, "binary_format_major_version");
    uint(&mut out, 5, 2);
    string(&mut out, "binary_format_minor_version");
    uint(&mut out, 5, 0);
    string(&mut out, "build_epoch");
    uint(&mut out, 9, 1_614_729_600);
    string(&mut out, "database_type");
    string(&mut out, "Taskforce-Fuzz-ASN");
    string(&mut out, "description");
    control(&mut out, 7, 1);
    string(&mut out, "en");
    string(&mut out, "Test ASN data made by taskforce-fuzz");
    string(&mut out, "ip_version");
    uint(&mut out, 5, u64::from(ip_version));
    string(&mut out, "languages");
    control(&mut out, 11, 1);
    string(&mut out, "en");
    string(&mut out, "node_count");
    uint(&mut out, 6, count as u64);
    string(&mut out, "record_size");
    uint(&mut out, 5, u64::from(record_size));
    out
}

/// A control byte (and extended type byte, and size bytes) for `kind` with `size`.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (first, extended) = if kind <= 7 { (kind << 5, None) } else { (0, Some(kind - 7)) };
    let (low, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push(first | low);
    if let Some(e) = extended {
        out.push(e);
    }
    out.extend_from_slice(&extra);
}

fn string(out: &mut Vec<u8>, s: &str) {
    control(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}
