//! Record readers for the text logs an Exchange server keeps.
//!
//! The readers work on raw bytes and never load a whole file: [`chunks::ChunkReader`] hands out
//! buffers of complete lines, [`header::Header`] maps column names to positions (tolerating the
//! missing, extra, empty and duplicate names that differ between Exchange versions), and
//! [`record::Record`] gives one line's fields on demand. Parsing a line is left to the caller, so
//! the hunt can skip every line that its literal prefilter rules out before splitting it.

pub mod chunks;
pub mod header;
pub mod record;
pub mod source;
pub mod split;
pub mod time;

pub use chunks::{Chunk, ChunkReader};
pub use header::{Format, Header, HeaderError};
pub use record::Record;
pub use source::LogSource;
pub use split::Span;
