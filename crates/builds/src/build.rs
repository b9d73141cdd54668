//! Exchange build numbers such as `15.1.2176.9`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Exchange build number, `major.minor.build.revision`.
///
/// The third part names the cumulative update (CU); a security update (SU) only raises the
/// fourth. Remote fingerprinting often sees only three parts (the OWA resource path
/// `/owa/auth/15.1.2176/…`), so `revision` is optional: `None` means "some build of this CU,
/// which SU is unknown".
///
/// Ordering compares the parts left to right. A 3-part build sorts before every 4-part build of
/// the same CU (`None < Some(0)`) and is not equal to any of them, so the order stays total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Build {
    pub major: u16,
    pub minor: u16,
    pub build: u32,
    /// `None` for a 3-part build ([`Precision::Cu`]).
    pub revision: Option<u32>,
}

impl Build {
    pub const fn new(major: u16, minor: u16, build: u32, revision: Option<u32>) -> Self {
        Build { major, minor, build, revision }
    }

    /// Whether the SU level is known (4 parts) or only the CU (3 parts).
    pub const fn precision(&self) -> Precision {
        match self.revision {
            Some(_) => Precision::Full,
            None => Precision::Cu,
        }
    }

    /// A build part of 0, as in the `#Version: 15.0.0.0` header of some Exchange logs or the
    /// `Version 15.0 (Build 0.0)` of scanners: a placeholder, not a real build. It parses so the
    /// caller can recognise it; the table never judges it.
    pub const fn is_placeholder(&self) -> bool {
        self.build == 0
    }

    /// The part that identifies the CU.
    pub(crate) const fn cu_key(&self) -> (u16, u16, u32) {
        (self.major, self.minor, self.build)
    }
}

/// How much of a build is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// All four parts: the SU level can be judged.
    Full,
    /// Three parts: only the CU is known.
    Cu,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Full => "full",
            Precision::Cu => "cu",
        })
    }
}

/// A string that is not a 3- or 4-part build number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Exchange build number (expected e.g. 15.1.2375.7 or 15.1.2375): {input:?}")]
pub struct ParseBuildError {
    input: String,
}

impl FromStr for Build {
    type Err = ParseBuildError;

    /// Accepts 3 or 4 dot-separated decimal parts, with the zero padding Exchange uses in log
    /// headers (`15.01.2375.007`) and surrounding whitespace (as in HTTP headers).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let parsed = match parts.as_slice() {
            [major, minor, build] => number(major)
                .zip(number(minor))
                .zip(number(build))
                .map(|((major, minor), build)| Build::new(major, minor, build, None)),
            [major, minor, build, revision] => number(major)
                .zip(number(minor))
                .zip(number(build))
                .zip(number(revision))
                .map(|(((major, minor), build), revision)| Build::new(major, minor, build, Some(revision))),
            _ => None,
        };
        parsed.ok_or_else(|| ParseBuildError { input: s.to_owned() })
    }
}

/// One part: ASCII digits only (no sign, no blanks), within the type's range.
fn number<T: FromStr>(part: &str) -> Option<T> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

impl fmt::Display for Build {
    /// The canonical form, without zero padding: `15.1.2375.7` or `15.1.2375`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)?;
        if let Some(revision) = self.revision {
            write!(f, ".{revision}")?;
        }
        Ok(())
    }
}

/// Serialised as the canonical string, as the JSON report contract wants (`"15.1.2176.9"`).
impl Serialize for Build {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back from the string form, so the service can ingest reports and probe results.
impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
