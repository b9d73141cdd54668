//! Binary XML (MS-EVEN6 "BinXml") as a token stream without templates: element starts with
//! attribute lists, value tokens, element ends. Names live in the chunk and are shared by the
//! records of one chunk through its string table (64 hash buckets of chained names).

use std::collections::HashMap;

/// Token bytes.
const TOKEN_EOF: u8 = 0x00;
const TOKEN_OPEN_START: u8 = 0x01;
/// Set on an element start that has an attribute list; on an attribute, that another follows.
const FLAG_MORE: u8 = 0x40;
const TOKEN_CLOSE_START: u8 = 0x02;
const TOKEN_CLOSE_EMPTY: u8 = 0x03;
const TOKEN_END_ELEMENT: u8 = 0x04;
const TOKEN_VALUE: u8 = 0x05;
const TOKEN_ATTRIBUTE: u8 = 0x06;
const TOKEN_FRAGMENT_HEADER: u8 = 0x0f;

/// Value types.
const TYPE_STRING: u8 = 0x01;
const TYPE_UINT8: u8 = 0x04;
const TYPE_UINT16: u8 = 0x06;
const TYPE_UINT32: u8 = 0x08;
const TYPE_UINT64: u8 = 0x0a;
const TYPE_FILETIME: u8 = 0x11;

/// Number of string-table buckets in a chunk header.
pub(crate) const NAME_BUCKETS: usize = 64;

/// A typed value, as a value token or an attribute's value carries it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    /// 100-nanosecond intervals since 1601-01-01 UTC.
    FileTime(u64),
}

/// The names written so far in one chunk: where each is, and the string table's buckets.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    at: HashMap<String, u32>,
    pub(crate) buckets: [u32; NAME_BUCKETS],
}

impl Default for Names {
    fn default() -> Self {
        Names { at: HashMap::new(), buckets: [0; NAME_BUCKETS] }
    }
}

/// The 16-bit name hash of MS-EVEN6: `hash = hash * 65599 + unit` over the UTF-16 units.
fn name_hash(name: &str) -> u16 {
    let hash = name.encode_utf16().fold(0u32, |hash, unit| hash.wrapping_mul(65599).wrapping_add(u32::from(unit)));
    (hash & 0xffff) as u16
}

/// The text does not fit a value token (more than 65535 UTF-16 units).
#[derive(Debug)]
pub(crate) struct TooLong;

/// A BinXML fragment being written at chunk offset `base`.
pub(crate) struct Fragment<'n> {
    out: Vec<u8>,
    base: u32,
    names: &'n mut Names,
    /// For each open element: where its data size goes, and where its attribute list size goes.
    open: Vec<(usize, Option<usize>)>,
}

impl<'n> Fragment<'n> {
    /// A fragment whose first byte lands at chunk offset `base`, starting with the fragment header.
    pub(crate) fn new(base: u32, names: &'n mut Names) -> Self {
        let mut fragment = Fragment { out: Vec::with_capacity(1024), base, names, open: Vec::new() };
        fragment.out.extend_from_slice(&[TOKEN_FRAGMENT_HEADER, 1, 1, 0]);
        fragment
    }

    /// Ends the fragment and returns its bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        debug_assert!(self.open.is_empty(), "unclosed elements");
        self.out.push(TOKEN_EOF);
        self.out
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn placeholder(&mut self) -> usize {
        let at = self.out.len();
        self.u32(0);
        at
    }

    /// Writes the size of what follows the 4-byte field at `at`, up to here.
    fn patch_size(&mut self, at: usize) {
        let size = (self.out.len() - at - 4) as u32;
        self.out[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }

    fn utf16(&mut self, text: &str) {
        for unit in text.encode_utf16() {
            self.u16(unit);
        }
    }

    /// A name reference: the chunk offset of a name, written in place the first time the chunk
    /// uses it (next name in its bucket, hash, length, UTF-16, NUL) and referred to after that.
    fn name(&mut self, name: &str) {
        if let Some(&at) = self.names.at.get(name) {
            self.u32(at);
            return;
        }
        let at = self.base + self.out.len() as u32 + 4;
        self.u32(at);
        let hash = name_hash(name);
        let bucket = usize::from(hash) % NAME_BUCKETS;
        let length = u16::try_from(name.encode_utf16().count()).expect("element and attribute names are short");
        self.u32(self.names.buckets[bucket]);
        self.u16(hash);
        self.u16(length);
        self.utf16(name);
        self.u16(0);
        self.names.buckets[bucket] = at;
        self.names.at.insert(name.to_owned(), at);
    }

    /// `<name`, then attributes with [`Fragment::attribute`] when `has_attributes`, then
    /// [`Fragment::close_start`] or [`Fragment::close_empty`].
    pub(crate) fn open(&mut self, name: &str, has_attributes: bool) {
        self.out.push(if has_attributes { TOKEN_OPEN_START | FLAG_MORE } else { TOKEN_OPEN_START });
        let size_at = self.placeholder();
        self.name(name);
        let attributes_at = has_attributes.then(|| self.placeholder());
        self.open.push((size_at, attributes_at));
    }

    /// ` name="value"`; `last` says that no attribute follows it.
    pub(crate) fn attribute(&mut self, name: &str, value: Value<'_>, last: bool) -> Result<(), TooLong> {
        self.out.push(if last { TOKEN_ATTRIBUTE } else { TOKEN_ATTRIBUTE | FLAG_MORE });
        self.name(name);
        self.value(value)
    }

    fn end_attributes(&mut self) {
        if let Some(&(_, Some(at))) = self.open.last() {
            self.patch_size(at);
        }
    }

    /// `>`: content follows, then [`Fragment::end`].
    pub(crate) fn close_start(&mut self) {
        self.end_attributes();
        self.out.push(TOKEN_CLOSE_START);
    }

    /// `/>`: the element ends here.
    pub(crate) fn close_empty(&mut self) {
        self.end_attributes();
        self.out.push(TOKEN_CLOSE_EMPTY);
        self.close_element();
    }

    /// `</name>`.
    pub(crate) fn end(&mut self) {
        self.out.push(TOKEN_END_ELEMENT);
        self.close_element();
    }

    fn close_element(&mut self) {
        let (size_at, _) = self.open.pop().expect("an open element");
        self.patch_size(size_at);
    }

    /// A value token: an element's text, or an attribute's value.
    pub(crate) fn value(&mut self, value: Value<'_>) -> Result<(), TooLong> {
        self.out.push(TOKEN_VALUE);
        match value {
            Value::Str(text) => {
                let length = u16::try_from(text.encode_utf16().count()).map_err(|_| TooLong)?;
                self.out.push(TYPE_STRING);
                self.u16(length);
                self.utf16(text);
            }
            Value::U8(v) => self.out.extend_from_slice(&[TYPE_UINT8, v]),
            Value::U16(v) => {
                self.out.push(TYPE_UINT16);
                self.u16(v);
            }
            Value::U32(v) => {
                self.out.push(TYPE_UINT32);
                self.u32(v);
            }
            Value::U64(v) => {
                self.out.push(TYPE_UINT64);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
            Value::FileTime(v) => {
                self.out.push(TYPE_FILETIME);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
    }

    /// `<name>value</name>`.
    pub(crate) fn text_element(&mut self, name: &str, value: Value<'_>) -> Result<(), TooLong> {
        self.open(name, false);
        self.close_start();
        self.value(value)?;
        self.end();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_known_names() {
        // Single unit: the hash is the unit itself.
        assert_eq!(name_hash("A"), 0x41);
        assert_eq!(name_hash("AB"), ((0x41u32 * 65599 + 0x42) & 0xffff) as u16);
    }

    #[test]
    fn names_are_written_once_then_referred_to() {
        let mut names = Names::default();
        let mut fragment = Fragment::new(1000, &mut names);
        fragment.open("Data", false);
        fragment.close_empty();
        fragment.open("Data", false);
        fragment.close_empty();
        let bytes = fragment.finish();
        // Header, then: token, size, name offset pointing just past itself, inline name.
        assert_eq!(bytes[4], TOKEN_OPEN_START);
        let first = u32::from_le_bytes(bytes[9..13].try_into().unwrap());
        assert_eq!(first, 1000 + 13);
        // Inline name: next (0), hash, 4 units, "Data", NUL = 4 + 2 + 2 + 8 + 2 bytes.
        let second_start = 13 + 18 + 1;
        assert_eq!(bytes[second_start], TOKEN_OPEN_START);
        let second = u32::from_le_bytes(bytes[second_start + 5..second_start + 9].try_into().unwrap());
        assert_eq!(second, first);
        // Element data size: everything after the size field through the close-empty token.
        let size = u32::from_le_bytes(bytes[5..9].try_into().unwrap());
        assert_eq!(size as usize, 4 + 18 + 1);
        assert_eq!(names.buckets[usize::from(name_hash("Data")) % NAME_BUCKETS], first);
    }
}
