//! What an Exchange front end's ordinary answers say about it (detections.md section D), and
//! what the build table makes of the build found.
//!
//! Pure functions over response parts, so every pattern is tested without a network. Only the
//! three non-intrusive sources are read: the `X-OWA-Version` header (D1, 4 parts), the OWA logon
//! page's `/owa/auth/<build>/` resource paths (D2, 3 parts: the CU only) and the ECP export-tool
//! manifest (D3, 4 parts).

use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::Serialize;
use taskforce_builds::{Build, BuildTable, FamilyStatus, Precision};

/// The first request of every probe: what a browser asks for when a user types the OWA address.
pub const OWA_PATH: &str = "/owa/";

/// The ClickOnce manifest of the eDiscovery export tool; its `assemblyIdentity` carries the
/// server's full build (D3). Served to anonymous browsers, so reading it touches no flaw.
const EXPORT_TOOL: &str = "exporttool/microsoft.exchange.ediscovery.exporttool.application";

/// Longest list of `/ecp/<build>/exporttool/…` look-ups for one target: the table names at most
/// five builds per CU, so this bound is never reached with the shipped table, but a larger
/// table must not turn a probe into a brute force.
pub const MAX_BUILD_LOOKUPS: usize = 8;

/// `/ecp/Current/exporttool/…` or `/ecp/15.1.2176.9/exporttool/…`.
pub fn export_tool_path(version: &str) -> String {
    format!("/ecp/{version}/{EXPORT_TOOL}")
}

/// Which source gave the build, in the order they are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The `X-OWA-Version` response header (4 parts).
    XOwaVersion,
    /// The export-tool manifest under `/ecp/Current/` (4 parts).
    EcpExporttool,
    /// The export-tool manifest under `/ecp/<build>/`, for the highest build of the table's
    /// candidates for the CU whose folder exists (4 parts, exact for the table's thresholds).
    EcpBuildPath,
    /// A `/owa/auth/<build>/` resource path of the logon page (3 parts: the CU only).
    OwaResourcePath,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::XOwaVersion => "x-owa-version",
            Method::EcpExporttool => "ecp-exporttool",
            Method::EcpBuildPath => "ecp-build-path",
            Method::OwaResourcePath => "owa-resource-path",
        }
    }
}

/// One observation that says "this is Exchange", kept so a reader can see why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// An `X-OWA-Version` header.
    XOwaVersion,
    /// An `X-FEServer` header (the Exchange 2013+ front end names itself).
    #[serde(rename = "x-feserver")]
    XFeServer,
    /// A redirect to `/owa/auth/logon.aspx`.
    OwaLogonRedirect,
    /// `/owa/auth/<build>/` resource paths in a page.
    OwaResourcePath,
    /// An export-tool manifest.
    EcpExporttool,
}

/// A 3- or 4-part build that is not a placeholder such as `15.0.0.0`.
fn real_build(text: &str) -> Option<Build> {
    text.parse::<Build>().ok().filter(|b| !b.is_placeholder())
}

/// The build in an `X-OWA-Version` header value (D1).
pub fn header_build(value: &[u8]) -> Option<Build> {
    real_build(std::str::from_utf8(value).ok()?)
}

static RESOURCE_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)/owa/(?:auth/)?(\d{1,2}\.\d{1,2}\.\d{1,5})(?:\.\d{1,5})?/").expect("valid regex")
});

/// The CU named by the page's `/owa/auth/15.1.2176/…` or `/owa/15.1.2176/…` resource paths
/// (D2): the highest one when several appear. Always 3 parts: whatever follows the CU in a path
/// is not documented to be the installed SU, and a wrong "fixed" is worse than `unknown`.
pub fn resource_path_build(body: &[u8]) -> Option<Build> {
    RESOURCE_PATH
        .captures_iter(body)
        .filter_map(|c| real_build(std::str::from_utf8(&c[1]).ok()?))
        .filter(|b| b.major >= 14)
        .max()
}

static ASSEMBLY_IDENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<assemblyIdentity\b[^>]*?\bversion\s*=\s*["'](\d+\.\d+\.\d+\.\d+)["']"#).expect("valid regex")
});

static EXPORT_TOOL_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)exporttool").expect("valid regex"));

/// The build in an export-tool manifest (D3): the first `assemblyIdentity` version of a
/// document that is the export tool's (a soft-404 page is not).
pub fn manifest_build(body: &[u8]) -> Option<Build> {
    if !EXPORT_TOOL_NAME.is_match(body) {
        return None;
    }
    let caps = ASSEMBLY_IDENTITY.captures(body)?;
    real_build(std::str::from_utf8(&caps[1]).ok()?)
}

/// Whether a `Location` sends the browser to the OWA logon form.
pub fn is_logon_location(location: &str) -> bool {
    location.to_ascii_lowercase().contains("/owa/auth/logon.aspx")
}

/// The product line of a build (Exchange names releases by major.minor).
pub fn product_line(b: &Build) -> Option<&'static str> {
    match (b.major, b.minor) {
        (14, _) => Some("Exchange Server 2010"),
        (15, 0) => Some("Exchange Server 2013"),
        (15, 1) => Some("Exchange Server 2016"),
        (15, 2) => Some("Exchange Server 2019"),
        _ => None,
    }
}

/// What the build table says about a target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assessment {
    /// `Exchange Server 2016`.
    pub product: Option<String>,
    /// `CU19`, `SP1`, `RTM` (of Exchange Server SE); `None` for a release the table does not list.
    pub cu: Option<String>,
    pub patch: Vec<FamilyStatus>,
}

/// The product, CU and per-family patch status of a target. An Exchange server whose build could
/// not be read gets every family `unknown` (so "no build" is never mistaken for "patched"); a
/// target that is not Exchange gets an empty `patch`.
pub fn assess(exchange: bool, build: Option<&Build>, table: &BuildTable) -> Assessment {
    let Some(b) = build else {
        if !exchange {
            return Assessment::default();
        }
        let patch = FamilyStatus::all_unknown("Exchange answered but showed no build: check it locally");
        return Assessment { product: None, cu: None, patch };
    };
    // The table knows Subscription Edition, whose builds share 2019's 15.2.
    let line = table.product_line(b).or_else(|| product_line(b));
    let (product, cu) = match (table.product(b), line) {
        (Some(p), Some(line)) => match p.name.strip_prefix(line) {
            Some(rest) if !rest.trim().is_empty() => (Some(line.to_owned()), Some(rest.trim().to_owned())),
            _ => (Some(line.to_owned()), None),
        },
        (Some(p), None) => (Some(p.name), None),
        (None, line) => (line.map(str::to_owned), None),
    };
    Assessment { product, cu, patch: table.patch_status(b) }
}

/// Whether a build's precision lets the table decide an SU threshold.
pub fn is_full(b: &Build) -> bool {
    b.precision() == Precision::Full
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskforce_builds::Status;

    /// Trimmed from the head of an Exchange 2016 CU19 logon page.
    const LOGON_PAGE: &str = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><title>Outlook</title>
<link rel="shortcut icon" href="/owa/auth/15.1.2176/themes/resources/favicon.ico" type="image/x-icon">
<link rel="stylesheet" href="/owa/auth/15.1.2176/themes/resources/logon.css">
<script type="text/javascript" src="/owa/auth/15.1.2176/scripts/premium/flogon.js"></script>
<form action="/owa/auth.owa" method="POST" name="logonForm">"#;

    const MANIFEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<asmv1:assembly xsi:schemaLocation="urn:schemas-microsoft-com:asm.v1 assembly.adaptive.xsd" manifestVersion="1.0" xmlns:asmv1="urn:schemas-microsoft-com:asm.v1">
  <assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.application" version="15.1.2176.9" publicKeyToken="b1d1a6c45aa418ce" language="neutral" processorArchitecture="msil" xmlns="urn:schemas-microsoft-com:asm.v1" />
  <dependency><dependentAssembly dependencyType="install" codebase="15.1.2176.9\microsoft.exchange.ediscovery.exporttool.exe.manifest" size="19050">
    <assemblyIdentity name="microsoft.exchange.ediscovery.exporttool.exe" version="15.1.2176.9" /></dependentAssembly></dependency>
</asmv1:assembly>"#;

    fn b(s: &str) -> Build {
        s.parse().unwrap()
    }

    #[test]
    fn header_gives_the_full_build() {
        assert_eq!(header_build(b"15.1.2375.17"), Some(b("15.1.2375.17")));
        assert_eq!(header_build(b" 15.2.1118.7 "), Some(b("15.2.1118.7")));
        assert_eq!(header_build(b"15.0.0.0"), None, "placeholder");
        assert_eq!(header_build(b"garbage"), None);
        assert_eq!(header_build(b"\xff\xfe"), None);
    }

    #[test]
    fn resource_paths_give_the_cu_only() {
        assert_eq!(resource_path_build(LOGON_PAGE.as_bytes()), Some(b("15.1.2176")));
        assert_eq!(resource_path_build(b"<img src='/OWA/15.0.1497/themes/x.gif'>"), Some(b("15.0.1497")));
        // A 4-part path is cut to the CU: the SU is not decided by a path.
        assert_eq!(resource_path_build(b"href=\"/owa/auth/15.2.1118.7/themes/a.css\""), Some(b("15.2.1118")));
        // The highest of several (a page mixing a stale and a current path).
        assert_eq!(resource_path_build(b"/owa/auth/15.1.2044/a /owa/auth/15.1.2176/b"), Some(b("15.1.2176")));
        for none in ["/owa/auth/logon.aspx", "/owa/auth/15.1.2176.css", "/owa/auth/1.2.3/x", "/static/15.1.2176/"] {
            assert_eq!(resource_path_build(none.as_bytes()), None, "{none}");
        }
    }

    #[test]
    fn manifest_gives_the_full_build() {
        assert_eq!(manifest_build(MANIFEST.as_bytes()), Some(b("15.1.2176.9")));
        let single_quoted =
            "<assemblyIdentity name='Microsoft.Exchange.EDiscovery.ExportTool.application' version='15.2.986.36'/>";
        assert_eq!(manifest_build(single_quoted.as_bytes()), Some(b("15.2.986.36")));
        assert_eq!(manifest_build(b"<html><body>Not found</body></html>"), None, "soft 404");
        assert_eq!(manifest_build(b"<assemblyIdentity name=\"other.app\" version=\"1.2.3.4\"/>"), None);
    }

    #[test]
    fn logon_redirects_are_recognised() {
        assert!(is_logon_location(
            "https://mail.example.org/owa/auth/logon.aspx?url=https%3a%2f%2fmail%2fowa%2f&reason=0"
        ));
        assert!(is_logon_location("/OWA/auth/logon.aspx?replaceCurrent=1"));
        assert!(!is_logon_location("/login"));
    }

    #[test]
    fn assessment_splits_product_and_cu_and_reads_the_table() {
        let table = BuildTable::builtin();
        let a = assess(true, Some(&b("15.1.2176.9")), table);
        assert_eq!((a.product.as_deref(), a.cu.as_deref()), (Some("Exchange Server 2016"), Some("CU19")));
        assert_eq!(a.patch, table.patch_status(&b("15.1.2176.9")));
        let a = assess(true, Some(&b("14.3.123.4")), table);
        assert_eq!((a.product.as_deref(), a.cu.as_deref()), (Some("Exchange Server 2010"), None));
        let a = assess(true, Some(&b("15.2.1748.24")), table);
        assert_eq!((a.product.as_deref(), a.cu.as_deref()), (Some("Exchange Server 2019"), Some("CU15")));
        let a = assess(true, Some(&b("15.2.2562.17")), table);
        assert_eq!((a.product.as_deref(), a.cu.as_deref()), (Some("Exchange Server SE"), Some("RTM")));
        // Newer than the table: the product from the newest release below it, no CU named.
        let a = assess(true, Some(&b("15.2.2600.1")), table);
        assert_eq!((a.product.as_deref(), a.cu), (Some("Exchange Server SE"), None));
        // A CU older than the table's rows: product known, CU not named, still judged.
        let a = assess(true, Some(&b("15.1.1261.35")), table);
        assert_eq!((a.product.as_deref(), a.cu), (Some("Exchange Server 2016"), None));
        assert!(a.patch.iter().all(|p| p.status == Status::Vulnerable));
        let a = assess(true, None, table);
        assert_eq!(a.patch.len(), 3);
        assert!(a.patch.iter().all(|p| p.status == Status::Unknown && p.fixed_in.is_none()));
        assert_eq!(assess(false, None, table), Assessment::default());
    }

    #[test]
    fn export_tool_paths() {
        assert_eq!(
            export_tool_path("Current"),
            "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application"
        );
        assert_eq!(
            export_tool_path("15.1.2176.9"),
            "/ecp/15.1.2176.9/exporttool/microsoft.exchange.ediscovery.exporttool.application"
        );
    }
}
