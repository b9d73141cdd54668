//! Reading a zip archive in place, with guards against zip bombs and hostile member names.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use zip::{CompressionMethod, ZipArchive};

use crate::classify::{classify, normalise};
use crate::shared_file::SharedFile;
use crate::{Item, Locator, Problem};

/// Limits that keep a hostile archive from exhausting the machine. A member over a limit is
/// listed as skipped; the rest of the archive is still read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest uncompressed member.
    pub max_member: u64,
    /// Largest sum of uncompressed members.
    pub max_total: u64,
    /// Largest uncompressed/compressed ratio for a member over 1 MiB. Deflate cannot exceed
    /// about 1032:1; text logs compress 10–50:1; bombs sit near the maximum.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_member: 16 << 30, max_total: 512 << 30, max_ratio: 400 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Member {
    data_start: u64,
    compressed: u64,
    size: u64,
    deflated: bool,
    modified: Option<i64>,
}

pub(crate) struct ZipSource {
    file: SharedFile,
    names: Vec<String>,
    members: Vec<Option<Member>>,
    problems: Vec<Problem>,
}

impl ZipSource {
    pub(crate) fn open(file: Arc<File>, len: u64, limits: Limits) -> Result<ZipSource, String> {
        let shared = SharedFile::new(file, len);
        let mut archive = ZipArchive::new(shared.clone()).map_err(|e| e.to_string())?;
        let mut names = Vec::with_capacity(archive.len());
        let mut members = Vec::with_capacity(archive.len());
        let mut problems = Vec::new();
        let mut total: u64 = 0;
        for i in 0..archive.len() {
            let entry = match archive.by_index_raw(i) {
                Ok(e) => e,
                Err(e) => {
                    names.push(format!("<member #{i}>"));
                    members.push(None);
                    problems
                        .push(Problem { path: format!("<member #{i}>"), reason: format!("unreadable zip entry: {e}") });
                    continue;
                }
            };
            let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let name = raw_name.clone();
            names.push(name.clone());
            if entry.is_dir() {
                members.push(None);
                continue;
            }
            let refuse = |reason: String| Problem { path: name.clone(), reason };
            let verdict: Result<Member, String> = (|| {
                if raw_name.split(['/', '\\']).any(|part| part == "..") || raw_name.chars().any(|c| c.is_control()) {
                    return Err(format!(
                        "unsafe member name {raw_name:?} (path traversal or control characters); not read"
                    ));
                }
                if entry.encrypted() {
                    return Err("encrypted member; not read".into());
                }
                let deflated = match entry.compression() {
                    CompressionMethod::Stored => false,
                    CompressionMethod::Deflated => true,
                    other => return Err(format!("unsupported compression method {other:?}")),
                };
                let size = entry.size();
                let compressed = entry.compressed_size();
                if size > limits.max_member {
                    return Err(format!(
                        "zip bomb guard: member expands to {size} bytes (limit {})",
                        limits.max_member
                    ));
                }
                if size > 1 << 20 && size / compressed.max(1) > limits.max_ratio {
                    return Err(format!(
                        "zip bomb guard: compression ratio {}:1 exceeds {}:1",
                        size / compressed.max(1),
                        limits.max_ratio
                    ));
                }
                if total.saturating_add(size) > limits.max_total {
                    return Err(format!("zip bomb guard: archive expands past {} bytes in total", limits.max_total));
                }
                let data_start = entry.data_start().ok_or("no data offset for member")?;
                if data_start.saturating_add(compressed) > len {
                    return Err("member data runs past the end of the archive (truncated zip)".into());
                }
                total += size;
                let modified = entry.last_modified().and_then(|t| {
                    let dt = jiff::civil::DateTime::new(
                        t.year() as i16,
                        t.month() as i8,
                        t.day() as i8,
                        t.hour() as i8,
                        t.minute() as i8,
                        t.second() as i8,
                        0,
                    )
                    .ok()?;
                    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
                });
                Ok(Member { data_start, compressed, size, deflated, modified })
            })();
            match verdict {
                Ok(m) => members.push(Some(m)),
                Err(reason) => {
                    problems.push(refuse(reason));
                    members.push(None);
                }
            }
        }
        refuse_overlaps(&names, &mut members, &mut problems);
        Ok(ZipSource { file: shared, names, members, problems })
    }

    pub(crate) fn list(&self) -> (Vec<Item>, Vec<Problem>) {
        let items = self
            .members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let m = m.as_ref()?;
                let path = self.names[i].clone();
                Some(Item {
                    hint: classify(&normalise(&path)),
                    path,
                    size: m.size,
                    modified: m.modified,
                    locator: Locator::ZipMember(i),
                })
            })
            .collect();
        (items, self.problems.clone())
    }

    pub(crate) fn open_member(&self, index: usize) -> io::Result<Box<dyn Read + Send + '_>> {
        let m = self.members[index].ok_or_else(|| io::Error::other("member is not readable"))?;
        let mut file = self.file.clone();
        file.seek(SeekFrom::Start(m.data_start))?;
        let raw = file.take(m.compressed);
        let inner: Box<dyn Read + Send> =
            if m.deflated { Box::new(flate2::read::DeflateDecoder::new(raw)) } else { Box::new(raw) };
        Ok(Box::new(Guarded { inner, declared: m.size, read: 0 }))
    }
}

/// Refuses members whose data overlaps another member's: a "zip of overlapping files" bomb
/// points many entries at the same compressed bytes, so each passes the ratio check while the
/// archive as a whole expands without bound. No real archiver writes overlapping members.
fn refuse_overlaps(names: &[String], members: &mut [Option<Member>], problems: &mut Vec<Problem>) {
    let mut ranges: Vec<(u64, u64, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.as_ref().filter(|m| m.compressed > 0).map(|m| (m.data_start, m.data_start + m.compressed, i))
        })
        .collect();
    ranges.sort_unstable();
    let mut overlapping = vec![false; members.len()];
    // The member reaching furthest so far: any later member starting before its end overlaps it.
    let mut furthest: Option<(u64, usize)> = None;
    for &(start, end, i) in &ranges {
        if let Some((reach, j)) = furthest
            && start < reach
        {
            overlapping[i] = true;
            overlapping[j] = true;
        }
        if furthest.is_none_or(|(reach, _)| end > reach) {
            furthest = Some((end, i));
        }
    }
    for (i, refused) in overlapping.into_iter().enumerate() {
        if refused {
            members[i] = None;
            problems.push(Problem {
                path: names[i].clone(),
                reason: "zip bomb guard: member data overlaps another member's (overlapping-files bomb); not read"
                    .into(),
            });
        }
    }
}

/// A decompressing reader (a `.gz` item) held to [`Limits`]: it fails once the output passes
/// `max_member` bytes, or once it passes 1 MiB at more than `max_ratio` times the input's size.
pub(crate) struct Inflated<'a> {
    inner: Box<dyn Read + Send + 'a>,
    compressed: u64,
    limits: Limits,
    read: u64,
}

impl<'a> Inflated<'a> {
    pub(crate) fn new(inner: Box<dyn Read + Send + 'a>, compressed: u64, limits: Limits) -> Inflated<'a> {
        Inflated { inner, compressed, limits, read: 0 }
    }
}

impl Read for Inflated<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Small steps, so the limits stop a bomb within 256 KiB of a threshold.
        let step = buf.len().min(256 << 10);
        let n = self.inner.read(&mut buf[..step])?;
        self.read += n as u64;
        if self.read > self.limits.max_member {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("gzip bomb guard: expands past {} bytes (limit)", self.limits.max_member),
            ));
        }
        if self.read > 1 << 20 && self.read / self.compressed.max(1) > self.limits.max_ratio {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "gzip bomb guard: compression ratio over {}:1 ({} bytes from {})",
                    self.limits.max_ratio, self.read, self.compressed
                ),
            ));
        }
        Ok(n)
    }
}

/// Fails a read that produces more bytes than the member declared: a lying header is how
/// overlapping-member bombs get past the listing checks.
struct Guarded {
    inner: Box<dyn Read + Send>,
    declared: u64,
    read: u64,
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zip bomb guard: member produced more than its declared {} bytes", self.declared),
            ));
        }
        Ok(n)
    }
}
