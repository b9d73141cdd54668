//! Streaming a log as buffers of complete lines.
//!
//! A log is never held in memory whole: the reader fills a buffer (2 MiB, grown only for
//! absurdly long lines), hands out the part that ends at the last newline, and keeps the rest for
//! the next read. Line numbers are counted per chunk with SIMD (`bytecount`), which costs a few
//! per cent of a pass over the data. UTF-8 BOMs are dropped; UTF-16 files (a BOM `FF FE` or
//! `FE FF`, as Notepad or PowerShell re-saves them) are transcoded to UTF-8 on the fly.

use std::io::{self, Read};

const INITIAL_BUFFER: usize = 2 << 20;
/// A "line" longer than this is cut: the bytes are still searched, as several pieces.
const MAX_BUFFER: usize = 32 << 20;

/// One buffer of complete lines (the last one may lack its newline at the end of the file).
#[derive(Debug)]
pub struct Chunk<'a> {
    pub data: &'a [u8],
    /// 1-based number of the chunk's first line.
    pub first_line: u64,
    /// True for the first chunk of the file (it holds the header).
    pub is_first: bool,
    /// True when the chunk ends the file.
    pub is_last: bool,
}

/// Text encodings recognised from a byte-order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16,
}

/// Reads a text log as chunks of complete lines.
pub struct ChunkReader<'r> {
    inner: Box<dyn Read + 'r>,
    buf: Vec<u8>,
    /// Unprocessed bytes are `buf[keep_from..filled]`.
    keep_from: usize,
    filled: usize,
    eof: bool,
    next_line: u64,
    emitted: bool,
    encoding: Encoding,
}

impl<'r> ChunkReader<'r> {
    /// Wraps a reader, sniffing its byte-order mark.
    pub fn new<R: Read + 'r>(reader: R) -> io::Result<ChunkReader<'r>> {
        ChunkReader::with_size_hint(reader, None)
    }

    /// Like [`ChunkReader::new`], with the file's size when known: a small file gets a small
    /// buffer (an evidence tree can hold a hundred thousand small logs).
    pub fn with_size_hint<R: Read + 'r>(mut reader: R, size: Option<u64>) -> io::Result<ChunkReader<'r>> {
        let mut bom = [0u8; 3];
        let mut got = 0;
        while got < 3 {
            match reader.read(&mut bom[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let peeked = &bom[..got];
        let (encoding, inner): (Encoding, Box<dyn Read + 'r>) = if peeked.starts_with(&[0xEF, 0xBB, 0xBF]) {
            (Encoding::Utf8Bom, Box::new(reader))
        } else if peeked.starts_with(&[0xFF, 0xFE]) || peeked.starts_with(&[0xFE, 0xFF]) {
            let replay = io::Cursor::new(peeked.to_vec()).chain(reader);
            let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new().bom_sniffing(true).build(replay);
            (Encoding::Utf16, Box::new(decoder))
        } else {
            (Encoding::Utf8, Box::new(io::Cursor::new(peeked.to_vec()).chain(reader)))
        };
        Ok(ChunkReader {
            inner,
            buf: vec![0; size.map_or(INITIAL_BUFFER, |s| (s as usize).saturating_add(64).clamp(4096, INITIAL_BUFFER))],
            keep_from: 0,
            filled: 0,
            eof: false,
            next_line: 1,
            emitted: false,
            encoding,
        })
    }

    /// The encoding found at the start of the file.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The next chunk, or `None` at the end of the file.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk<'_>>> {
        // Move the unprocessed tail to the front.
        if self.keep_from > 0 {
            self.buf.copy_within(self.keep_from..self.filled, 0);
            self.filled -= self.keep_from;
            self.keep_from = 0;
        }
        loop {
            while !self.eof && self.filled < self.buf.len() {
                match self.inner.read(&mut self.buf[self.filled..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.filled == 0 {
                return Ok(None);
            }
            let end = match memchr::memrchr(b'\n', &self.buf[..self.filled]) {
                Some(pos) if !self.eof => pos + 1,
                _ if self.eof => self.filled,
                None if self.buf.len() < MAX_BUFFER => {
                    let grown = self.buf.len() * 2;
                    self.buf.resize(grown, 0);
                    continue;
                }
                _ => self.filled, // a giant line: hand it out in pieces
            };
            self.keep_from = end;
            let is_last = self.eof && end == self.filled;
            let first_line = self.next_line;
            let data = &self.buf[..end];
            self.next_line += bytecount::count(data, b'\n') as u64;
            let is_first = !self.emitted;
            self.emitted = true;
            return Ok(Some(Chunk { data, first_line, is_first, is_last }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> (Vec<u8>, u64, usize) {
        let mut reader = ChunkReader::new(bytes).unwrap();
        let mut all = Vec::new();
        let mut chunks = 0;
        let mut last_first = 0;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            all.extend_from_slice(chunk.data);
            last_first = chunk.first_line;
            chunks += 1;
        }
        (all, last_first, chunks)
    }

    #[test]
    fn strips_utf8_bom_and_keeps_truncated_last_line() {
        let (all, _, _) = collect(b"\xEF\xBB\xBF#Fields: a\r\nx\r\ntrunc");
        assert_eq!(all, b"#Fields: a\r\nx\r\ntrunc");
    }

    #[test]
    fn transcodes_utf16le() {
        let text = "#Fields: a,b\r\n1,2\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let mut reader = ChunkReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.encoding(), Encoding::Utf16);
        let chunk = reader.next_chunk().unwrap().unwrap();
        assert_eq!(chunk.data, text.as_bytes());
    }

    #[test]
    fn chunks_end_on_line_boundaries_and_count_lines() {
        let mut data = Vec::new();
        for i in 0..300_000 {
            data.extend_from_slice(format!("line {i} with some padding text\n").as_bytes());
        }
        let mut reader = ChunkReader::new(&data[..]).unwrap();
        let mut lines = 0u64;
        let mut chunks = 0;
        while let Some(chunk) = reader.next_chunk().unwrap() {
            assert_eq!(chunk.first_line, lines + 1);
            assert_eq!(*chunk.data.last().unwrap(), b'\n');
            let first = chunk.data.split(|&b| b == b'\n').next().unwrap();
            assert_eq!(first, format!("line {} with some padding text", lines).as_bytes());
            lines += bytecount::count(chunk.data, b'\n') as u64;
            chunks += 1;
        }
        assert_eq!(lines, 300_000);
        assert!(chunks > 1);
    }

    #[test]
    fn empty_input() {
        let (all, _, chunks) = collect(b"");
        assert!(all.is_empty());
        assert_eq!(chunks, 0);
    }
}
