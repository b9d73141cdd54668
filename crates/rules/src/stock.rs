//! The script pages a stock Exchange install serves from its web folders (`rules/stock-pages.yml`),
//! shared by the file sweep and the hunt's request check: a successful request to any other
//! script page in those folders is web shell use, even when the file itself is gone.

use std::sync::OnceLock;

use serde::Deserialize;

const BUILTIN: &str = include_str!("../../../rules/stock-pages.yml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    extensions: Vec<String>,
    folders: Vec<Folder>,
}

/// One watched web folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folder {
    /// URL path prefix, lower case, with leading and trailing slashes (`/owa/auth/`).
    pub url: String,
    /// The file sweep's area for the same folder (`owa-auth`).
    pub area: String,
    /// Whether pages in subfolders are judged too.
    pub subfolders: bool,
    /// The stock pages, lower case.
    pub pages: Vec<String>,
}

/// The stock page lists.
#[derive(Debug)]
pub struct StockPages {
    extensions: Vec<String>,
    pub folders: Vec<Folder>,
}

/// What a requested path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageClass {
    /// Not a script page in a watched folder.
    NotWatched,
    /// One of Exchange's own pages.
    Stock,
    /// A script page a stock install does not have. `lookalike` names the stock page it is one or
    /// two edits away from (`logon.aspx` for `logen.aspx`), the disguise real intrusions used.
    Unknown { folder: String, page: String, lookalike: Option<String> },
}

impl StockPages {
    /// The lists shipped in the binary.
    pub fn builtin() -> &'static StockPages {
        static PAGES: OnceLock<StockPages> = OnceLock::new();
        PAGES.get_or_init(|| StockPages::parse(BUILTIN).expect("rules/stock-pages.yml parses"))
    }

    pub fn parse(text: &str) -> Result<StockPages, String> {
        let doc: Doc = serde_norway::from_str(text).map_err(|e| format!("stock pages: {e}"))?;
        let folders = doc
            .folders
            .into_iter()
            .map(|mut f| {
                f.url = f.url.to_ascii_lowercase();
                f.pages = f.pages.iter().map(|p| p.to_ascii_lowercase()).collect();
                f
            })
            .collect();
        Ok(StockPages { extensions: doc.extensions, folders })
    }

    /// Classifies a request path (`cs-uri-stem`, `UrlStem`); percent-encoding and a query are
    /// the caller's to remove.
    pub fn classify(&self, path: &str) -> PageClass {
        let lower = path.trim().to_ascii_lowercase().replace('\\', "/");
        let lower = collapse_slashes(&lower);
        let Some(ext) = lower.rsplit_once('.').map(|(_, e)| e) else { return PageClass::NotWatched };
        if !self.extensions.iter().any(|e| e == ext) {
            return PageClass::NotWatched;
        }
        let Some(folder) = self.folders.iter().find(|f| lower.starts_with(&f.url)) else {
            return PageClass::NotWatched;
        };
        let below = &lower[folder.url.len()..];
        if below.is_empty() || (!folder.subfolders && below.contains('/')) {
            return PageClass::NotWatched;
        }
        if !below.contains('/') && folder.pages.iter().any(|p| p == below) {
            return PageClass::Stock;
        }
        let name = below.rsplit('/').next().unwrap_or(below);
        let lookalike = folder
            .pages
            .iter()
            .filter(|p| p.as_str() != name)
            .map(|p| (strsim::levenshtein(p, name), p))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, p)| p.clone());
        PageClass::Unknown { folder: folder.url.clone(), page: lower.clone(), lookalike }
    }
}

fn collapse_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_unknown_and_lookalikes() {
        let s = StockPages::builtin();
        assert_eq!(s.classify("/owa/auth/logon.aspx"), PageClass::Stock);
        assert_eq!(s.classify("/OWA/Auth/LogOn.aspx"), PageClass::Stock);
        assert_eq!(s.classify("/ecp/auth/TimeoutLogout.aspx"), PageClass::Stock);
        assert_eq!(s.classify("/owa/auth/15.2.1118/themes/resources/logon.css"), PageClass::NotWatched);
        assert_eq!(s.classify("/owa/service.svc"), PageClass::NotWatched);
        assert_eq!(s.classify("/ecp/default.aspx"), PageClass::NotWatched);
        match s.classify("/owa/auth/logen.aspx") {
            PageClass::Unknown { lookalike, folder, .. } => {
                assert_eq!(lookalike.as_deref(), Some("logon.aspx"));
                assert_eq!(folder, "/owa/auth/");
            }
            other => panic!("{other:?}"),
        }
        match s.classify("/aspnet_client/system_web/supp0rt.aspx") {
            PageClass::Unknown { lookalike, .. } => assert_eq!(lookalike, None),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.classify("//owa//auth//x.ashx"), PageClass::Unknown { .. }));
        assert!(matches!(s.classify("/OAB/log.aspx"), PageClass::Unknown { .. }));
        // A stock name in a subfolder is not the stock page.
        assert!(matches!(s.classify("/owa/auth/Current/logon.aspx"), PageClass::Unknown { .. }));
    }
}

#[cfg(test)]
mod consistency {
    use super::*;

    /// The file sweep's "not a stock page" rules and the request check read the same lists: every
    /// `except:` list of a names.yml rule for a watched area equals that folder's stock pages.
    #[test]
    fn file_sweep_exceptions_are_the_stock_pages() {
        let text = include_str!("../../../rules/files/iocs/names.yml");
        let rules: Vec<serde_norway::Value> = serde_norway::from_str(text).unwrap();
        let stock = StockPages::builtin();
        let mut checked = 0;
        for rule in &rules {
            let (Some(area), Some(except)) =
                (rule.get("area").and_then(|a| a.as_str()), rule.get("except").and_then(|e| e.as_sequence()))
            else {
                continue;
            };
            let folder = stock.folders.iter().find(|f| f.area == area).unwrap_or_else(|| panic!("area {area}"));
            let mut listed: Vec<String> =
                except.iter().filter_map(|v| v.as_str()).map(str::to_ascii_lowercase).collect();
            listed.sort();
            let mut pages = folder.pages.clone();
            pages.sort();
            assert_eq!(listed, pages, "names.yml except list for {area} vs rules/stock-pages.yml");
            checked += 1;
        }
        assert!(checked >= 2, "owa-auth and ecp-auth rules checked");
    }
}
