//! Where generated files go: a directory tree, or members of a deflated zip. Both stream: a
//! file's body is written through a buffered writer and never held whole in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::time::parts;

pub(crate) type Body<'b> = dyn FnMut(&mut dyn Write) -> io::Result<()> + 'b;

pub(crate) trait Sink {
    /// Writes one file at `rel` (forward slashes) and returns its size in bytes.
    fn file(&mut self, rel: &str, mtime: i64, body: &mut Body<'_>) -> io::Result<u64>;
}

/// Counts the bytes that pass through.
pub(crate) struct Counting<'w> {
    inner: &'w mut dyn Write,
    pub n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.n += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn system_time(ts: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ts.max(0) as u64)
}

/// Writes `rel` under `root`, creating folders, and stamps the file's mtime.
pub(crate) fn write_to_dir(root: &Path, rel: &str, mtime: i64, body: &mut Body<'_>) -> io::Result<u64> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    let mut counting = Counting { inner: &mut w, n: 0 };
    body(&mut counting)?;
    let n = counting.n;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.set_modified(system_time(mtime))?;
    Ok(n)
}

pub(crate) struct DirSink {
    pub root: PathBuf,
}

impl Sink for DirSink {
    fn file(&mut self, rel: &str, mtime: i64, body: &mut Body<'_>) -> io::Result<u64> {
        write_to_dir(&self.root, rel, mtime, body)
    }
}

pub(crate) struct ZipSink {
    zip: zip::ZipWriter<BufWriter<File>>,
}

impl ZipSink {
    pub(crate) fn create(path: &Path) -> io::Result<ZipSink> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(path)?;
        Ok(ZipSink { zip: zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub(crate) fn finish(self) -> io::Result<()> {
        let mut w = self.zip.finish().map_err(io::Error::other)?;
        w.flush()
    }
}

impl Sink for ZipSink {
    fn file(&mut self, rel: &str, mtime: i64, body: &mut Body<'_>) -> io::Result<u64> {
        let p = parts(mtime);
        let dt = zip::DateTime::from_date_and_time(p.y as u16, p.mo as u8, p.d as u8, p.h as u8, p.mi as u8, p.s as u8)
            .unwrap_or_default();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(dt)
            .unix_permissions(0o644);
        self.zip.start_file(rel, options).map_err(io::Error::other)?;
        let mut counting = Counting { inner: &mut self.zip, n: 0 };
        body(&mut counting)?;
        Ok(counting.n)
    }
}
