//! Hostile input never panics the readers: deterministic pseudo-random bytes, with and without
//! log-like fragments, through the chunk reader, the header sniffer and both line splitters.

use taskforce_logs::{ChunkReader, Format, Header, Record, Span};

/// A small xorshift generator: the same garbage on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"#Fields: ",
    b"#Software: Microsoft Exchange Server\r\n",
    b"#Software: Microsoft Internet Information Services 10.0\n",
    b"\"",
    b"\"\"",
    b",",
    b" ",
    b"\r\n",
    b"\n",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\x00",
    b"ServerInfo~",
    b"%",
    b"%3",
    b"+",
    b"\xC3",
    b"2021-03-03T04:21:12.345Z",
];

fn garbage(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if rng.next().is_multiple_of(3) {
            out.extend_from_slice(FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize]);
        } else {
            out.push(rng.next() as u8);
        }
    }
    out
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut spans: Vec<Span> = Vec::new();
    for round in 0..400 {
        let len = (rng.next() % 6000) as usize;
        let data = garbage(&mut rng, len);
        let _ = Header::sniff(&data);
        let mut header = Header::default();
        let mut reader = ChunkReader::new(&data[..]).expect("reading from memory");
        while let Some(chunk) = reader.next_chunk().expect("reading from memory") {
            for (i, line) in chunk.data.split(|&b| b == b'\n').enumerate() {
                if line.first() == Some(&b'#') {
                    header.apply_directive(line);
                }
                for format in [Format::ExchangeCsv, Format::W3c, Format::Lines] {
                    let record = Record::parse(line, chunk.first_line + i as u64, format, &mut spans);
                    for f in 0..record.len() + 2 {
                        if let Some(v) = record.field(f) {
                            let _ = taskforce_logs::split::url_decode(&v);
                        }
                    }
                    let _ = taskforce_logs::time::find_in_line(record.line);
                }
            }
        }
        assert!(round < 400);
    }
}
