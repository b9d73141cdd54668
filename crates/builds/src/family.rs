//! Vulnerability families and the per-family verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Build;

/// A group of CVEs that were exploited together and are reported together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    ProxyLogon,
    ProxyShell,
    ProxyNotShell,
}

impl Family {
    /// Every family, in the order reports list them.
    pub const ALL: [Family; 3] = [Family::ProxyLogon, Family::ProxyShell, Family::ProxyNotShell];

    /// The family's CVEs (detections.md section C). A product may be affected by only some of
    /// them (Exchange 2010: CVE-2021-26857 alone); [`FamilyStatus::cves`] lists those that apply.
    pub const fn cves(self) -> &'static [&'static str] {
        match self {
            Family::ProxyLogon => &["CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"],
            // 34473 and 34523 were fixed by the April 2021 SU, 31207 by the May 2021 SU.
            Family::ProxyShell => &["CVE-2021-34473", "CVE-2021-34523", "CVE-2021-31207"],
            Family::ProxyNotShell => &["CVE-2022-41040", "CVE-2022-41082"],
        }
    }

    /// The name used in reports and JSON: `ProxyLogon`, `ProxyShell`, `ProxyNotShell`.
    pub const fn name(self) -> &'static str {
        match self {
            Family::ProxyLogon => "ProxyLogon",
            Family::ProxyShell => "ProxyShell",
            Family::ProxyNotShell => "ProxyNotShell",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a build is fixed for a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Vulnerable,
    Fixed,
    /// The build does not decide it: a 3-part build where the answer depends on the SU, or a
    /// build the table does not know.
    Unknown,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Vulnerable => "vulnerable",
            Status::Fixed => "fixed",
            Status::Unknown => "unknown",
        })
    }
}

/// One entry of the report's `patch` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyStatus {
    pub family: Family,
    /// The family's CVEs that apply to this product.
    pub cves: Vec<String>,
    pub status: Status,
    /// The lowest build of the same release that fixes the whole family (the release's RTM build
    /// when the release itself contains the fix); `None` when no build of it does.
    pub fixed_in: Option<Build>,
    /// One short sentence saying why, and what to do.
    #[serde(default)]
    pub note: String,
}

impl FamilyStatus {
    /// Every family `unknown`, with the same note: a build that cannot be judged is never
    /// mistaken for a patched one.
    pub fn all_unknown(note: &str) -> Vec<FamilyStatus> {
        Family::ALL
            .into_iter()
            .map(|family| FamilyStatus {
                family,
                cves: family.cves().iter().map(|&c| c.to_owned()).collect(),
                status: Status::Unknown,
                fixed_in: None,
                note: note.to_owned(),
            })
            .collect()
    }
}
