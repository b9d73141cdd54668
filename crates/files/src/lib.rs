//! The file sweep of `taskforce hunt`: what attackers left on an Exchange server's disk.
//!
//! Logs roll over; web shells stay. This crate looks at the files of one host's evidence that sit
//! in the web folders and staging places of detections.md A.3 (FS-01 … FS-10) and reports:
//!
//! - **YARA** hits (`yara-x`, behind the default `yara` feature): the built-in rules in
//!   `rules/files/yara/*.yar` (OAB-configuration web shell, China Chopper variants, the ProxyShell
//!   PST-header and certificate-request shells, compiled shells) plus user rule sets
//!   (`--yara DIR`, e.g. signature-base's `yara/`), compiled best-effort once per run;
//! - **hash** hits: SHA-256 of every file in scope against the built-in list
//!   (`rules/files/iocs/hashes.txt`) and user lists (`--iocs DIR`: signature-base `hash;comment`,
//!   MD5/SHA-1/SHA-256, or Microsoft's MSTIC feed CSV);
//! - **name/path** hits: known web shell names per folder, script pages where a stock install has
//!   none, LSASS dumps, staging archives and tooling paths (`rules/files/iocs/names.yml`; user
//!   `*.yml` in the same schema, signature-base `regex;score[;fp-regex]` filename lists);
//! - the IIS configuration check (FS-09): a virtual directory whose physical path is in
//!   `ProgramData` or `Users\All Users`;
//! - the **Exchange build** from the version resource of `Bin\ExSetup.exe`.
//!
//! Usage, one host:
//! ```no_run
//! use taskforce_files::{Sweep, SweepConfig};
//! let (sweep, problems) = Sweep::load(&SweepConfig::default());
//! for p in &problems { eprintln!("{}: {}", p.path, p.reason); }
//! let path = "C/inetpub/wwwroot/aspnet_client/x.aspx";          // normalised evidence path
//! if let Some(area) = sweep.in_scope(path) {
//!     let mut scanner = sweep.scanner();                          // one per thread
//!     let mut file = std::fs::File::open("/evidence/C/inetpub/wwwroot/aspnet_client/x.aspx").unwrap();
//!     let size = file.metadata().unwrap().len();
//!     let result = scanner.scan(path, area, size, None, &mut file);
//!     for hit in &result.hits { println!("{} {} {}", hit.severity, hit.rule, hit.title); }
//! }
//! ```
//!
//! Verdict effects are data: every built-in rule declares severity, stage and effect
//! (`verdict:` / `meta: verdict`). User YARA rules and `regex;score` IOCs are mapped from their
//! signature-base `score` as documented on [`score_mapping`].

mod area;
mod hashes;
mod iis;
mod names;
mod pe;
mod scan;
#[cfg(feature = "yara")]
mod yara;

use std::path::PathBuf;

pub use area::{Area, web_path, windows_path};
pub use pe::file_version;
pub use scan::FileScanner;
pub use taskforce_builds::Build;
pub use taskforce_report::{Effect, Severity, Stage};

/// True when this build has YARA support (the `yara` cargo feature).
pub const YARA_ENABLED: bool = cfg!(feature = "yara");

/// The message to show when YARA support is not compiled in.
pub const YARA_DISABLED_MESSAGE: &str = "YARA scanning is off: taskforce was built without the `yara` feature (hashes, names, paths, \
     the IIS configuration check and ExSetup.exe still run)";

/// What to load and how much to read.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// Load the built-in YARA rules and IOC lists (`rules/files`, embedded in the binary).
    pub builtin: bool,
    /// User YARA rule folders (`*.yar`, `*.yara`, recursive), e.g. signature-base's `yara/`.
    pub yara_dirs: Vec<PathBuf>,
    /// User IOC folders (recursive): files whose name contains `hash` (`hash;comment`),
    /// `filename` (`regex;score[;fp-regex]`), MSTIC feed `*.csv`, and `*.yml` name rules.
    pub ioc_dirs: Vec<PathBuf>,
    /// Largest file whose content is scanned (YARA, ExSetup.exe, IIS config). Default 20 MiB.
    pub max_file_size: u64,
    /// Largest file that is hashed; bigger files get name/path checks only. Default 256 MiB.
    pub max_hash_size: u64,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            builtin: true,
            yara_dirs: Vec::new(),
            ioc_dirs: Vec::new(),
            max_file_size: 20 << 20,
            max_hash_size: 256 << 20,
        }
    }
}

/// A rule, rule file or IOC line that could not be loaded, and why. Loading never fails as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file (or folder) concerned; `builtin:…` for embedded content.
    pub path: String,
    /// The rule name (YARA) or `line N` (IOC lists), when known.
    pub rule: Option<String>,
    pub reason: String,
}

/// Counts of the YARA rules loaded, for the run's summary line and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YaraStats {
    /// Rule files read (built-in ones included).
    pub files: usize,
    /// Rules declared in those files (counted from the source text).
    pub declared: usize,
    /// Rules in the compiled set.
    pub compiled: usize,
}

impl YaraStats {
    /// Declared rules that did not make it into the compiled set.
    pub fn skipped(&self) -> usize {
        self.declared.saturating_sub(self.compiled)
    }
}

/// How a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HitKind {
    Yara,
    Hash,
    /// A name or path rule (built-in `names.yml`, user `*.yml`, `regex;score`, MSTIC file paths).
    Name,
    /// The IIS configuration check (FS-09).
    IisConfig,
}

/// One finding about one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileHit {
    /// Stable id (`TF-FS-04-OABCONFIG`, `TF-FS-03-KNOWN-BAD-HASH`, …); for user YARA rules the
    /// rule name, for user IOC lists `USER-HASH-IOC` / `USER-FILENAME-IOC` / `USER-MSTIC-FILEPATH`.
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub stage: Stage,
    pub effect: Effect,
    pub cves: Vec<String>,
    pub kind: HitKind,
    /// The matched strings (YARA), the hash, or the path: trimmed, printable.
    pub excerpt: String,
    /// `area`, `sha256`, `web_path`, `yara_namespace`, `score`, `ioc_list`, `ioc_comment`,
    /// `physical_path`, `reference`, … in a stable order.
    pub detail: Vec<(String, String)>,
}

/// What the sweep found in one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileResult {
    /// Lowercase hex SHA-256 of the content; `None` when the file was over `max_hash_size` or
    /// could not be read to the end.
    pub sha256: Option<String>,
    /// Hits, most severe first.
    pub hits: Vec<FileHit>,
    /// The build from `Bin\ExSetup.exe`'s version resource.
    pub exchange_build: Option<Build>,
    /// A read or scan error (the hits found before it are kept).
    pub error: Option<String>,
    /// The content was not scanned (over `max_file_size`, or the declared size over
    /// `max_hash_size`, in which case nothing was read): only name and path checks ran.
    pub skipped_for_size: bool,
}

/// The severity, stage and effect of a hit from a rule that gives only a signature-base `score`
/// (user YARA rules, `regex;score` filename IOCs). A rule without a score counts as 75.
///
/// - severity: score ≥ 90 critical, ≥ 75 high, ≥ 60 medium, ≥ 40 low, else info;
/// - class, from the rule name's prefix or words and its tags (case-insensitive):
///   `webshell` (WEBSHELL…, "webshell", tag `webshell`), `tool` (HKTL, HackTool, tag `hacktool`),
///   `malware` (MAL_, APT_, tag `apt`/`malware`), `exploit` (EXPL, VULN, tag `exploit`);
/// - effect: `compromised` when score ≥ 80 and the class is webshell, tool or malware;
///   `attempted` when score ≥ 60 and the class is exploit; otherwise `review` above `low`
///   severity and `none` (context) at `low` or below;
/// - stage: webshell → `webshell`; names with lsass/mimikatz/credential → `credential-access`;
///   exploit → `exploit`; everything else → `execution`.
pub fn score_mapping(score: Option<i64>, name: &str, tags: &[&str]) -> (Severity, Stage, Effect) {
    let score = score.unwrap_or(75);
    let severity = match score {
        90.. => Severity::Critical,
        75..=89 => Severity::High,
        60..=74 => Severity::Medium,
        40..=59 => Severity::Low,
        _ => Severity::Info,
    };
    let n = name.to_ascii_lowercase();
    let tag = |t: &str| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
    let webshell = n.contains("webshell") || tag("webshell");
    let tool = n.starts_with("hktl") || n.contains("hacktool") || tag("hacktool") || tag("hktl");
    let malware = n.starts_with("mal_") || n.starts_with("apt_") || tag("apt") || tag("malware");
    let exploit = n.starts_with("expl") || n.starts_with("vuln") || tag("exploit");
    let effect = if score >= 80 && (webshell || tool || malware) {
        Effect::Compromised
    } else if score >= 60 && exploit {
        Effect::Attempted
    } else if severity > Severity::Low {
        // Suspicious enough to report above `low`, not proof of anything: a person must look.
        Effect::Review
    } else {
        Effect::None
    };
    let stage = if webshell {
        Stage::Webshell
    } else if ["lsass", "mimikatz", "credential"].iter().any(|w| n.contains(w)) {
        Stage::CredentialAccess
    } else if exploit {
        Stage::Exploit
    } else {
        Stage::Execution
    };
    (severity, stage, effect)
}

/// Severity, stage, effect and texts of a rule: what every hit of it carries.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub stage: Stage,
    pub effect: Effect,
    pub cves: Vec<String>,
    pub reference: String,
    /// `accounts:` of a name rule: what a hit exposes for every account with a session on the
    /// server (an LSASS dump: `credentials_exposed`), as the hunt's accounts list reads it.
    pub all_sessions: Option<String>,
}

impl RuleMeta {
    pub(crate) fn hit(&self, kind: HitKind, excerpt: String, detail: Vec<(String, String)>) -> FileHit {
        let mut detail = detail;
        if !self.reference.is_empty() {
            detail.push(("reference".into(), self.reference.clone()));
        }
        if let Some(action) = &self.all_sessions {
            detail.push((format!("account:{action}"), "*".into()));
        }
        FileHit {
            rule: self.id.clone(),
            title: self.title.clone(),
            severity: self.severity,
            stage: self.stage,
            effect: self.effect,
            cves: self.cves.clone(),
            kind,
            excerpt,
            detail,
        }
    }
}

/// The compiled rules and IOC sets of one run: load once, share between threads (`Send + Sync`),
/// and give each thread its own [`FileScanner`].
pub struct Sweep {
    names: names::NameSet,
    hashes: hashes::HashIocs,
    #[cfg(feature = "yara")]
    yara: Option<yara::YaraSet>,
    yara_stats: YaraStats,
    max_file_size: u64,
    max_hash_size: u64,
}

impl Sweep {
    /// Loads the built-in content (if `cfg.builtin`) and the user folders. Never fails as a
    /// whole: what could not be read, parsed or compiled is listed, and the rest is used.
    pub fn load(cfg: &SweepConfig) -> (Sweep, Vec<LoadProblem>) {
        let mut problems = Vec::new();
        let mut names = names::NameSet::default();
        let mut hashes = hashes::HashIocs::default();
        if cfg.builtin {
            names.add_yaml(names::BUILTIN_NAMES, "builtin:rules/files/iocs/names.yml", true, &mut problems);
            hashes.add_list(hashes::BUILTIN_HASHES, "builtin:rules/files/iocs/hashes.txt", true, &mut problems);
        }
        for dir in &cfg.ioc_dirs {
            load_ioc_dir(dir, &mut names, &mut hashes, &mut problems);
        }
        names.finish(&mut problems);

        #[cfg(feature = "yara")]
        let (yara, yara_stats) = {
            let (set, stats) = yara::YaraSet::compile(cfg.builtin, &cfg.yara_dirs, &mut problems);
            (set, stats)
        };
        #[cfg(not(feature = "yara"))]
        let yara_stats = {
            for dir in &cfg.yara_dirs {
                problems.push(LoadProblem {
                    path: dir.display().to_string(),
                    rule: None,
                    reason: YARA_DISABLED_MESSAGE.to_string(),
                });
            }
            YaraStats::default()
        };
        let sweep = Sweep {
            names,
            hashes,
            #[cfg(feature = "yara")]
            yara,
            yara_stats,
            max_file_size: cfg.max_file_size,
            max_hash_size: cfg.max_hash_size,
        };
        (sweep, problems)
    }

    /// YARA rules in the compiled set (0 without the `yara` feature).
    pub fn yara_rule_count(&self) -> usize {
        self.yara_stats.compiled
    }

    /// Files, declared and compiled YARA rules.
    pub fn yara_stats(&self) -> YaraStats {
        self.yara_stats
    }

    /// Hash IOCs loaded (built-in and user).
    pub fn hash_ioc_count(&self) -> usize {
        self.hashes.len()
    }

    /// Name/path rules loaded (built-in and user `*.yml` rules, MSTIC paths, `regex;score` lines).
    pub fn name_rule_count(&self) -> usize {
        self.names.len()
    }

    /// Rules and IOC entries loaded per file they came from (`builtin:…` or a path): what a
    /// report's `rule_sets` counts.
    pub fn loaded_by_origin(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        let names = self.names.origins().chain(self.hashes.origins());
        #[cfg(feature = "yara")]
        let names = names.chain(self.yara.iter().flat_map(|y| y.origins.iter().map(String::as_str)));
        for origin in names {
            *out.entry(origin.to_string()).or_default() += 1;
        }
        out
    }

    /// Whether a file belongs to the sweep, and in which area. `normalised_path` uses forward
    /// slashes and may start at any root (`C/…`, `uploads/auto/C:/…`, `D/Exchange/…`, a copied
    /// drive root); matching is case-insensitive. Files outside the areas are in scope (as
    /// [`Area::Other`]) when a name rule marked `anywhere` or a user filename IOC matches them.
    pub fn in_scope(&self, normalised_path: &str) -> Option<Area> {
        if let Some(loc) = area::locate(normalised_path) {
            return Some(loc.area);
        }
        self.names.matches_anywhere(normalised_path).then_some(Area::Other)
    }

    /// A scanner for one thread (it holds a YARA scanner and a read buffer).
    pub fn scanner(&self) -> FileScanner<'_> {
        FileScanner::new(self)
    }
}

/// Reads one `--iocs DIR`: recognises each file by name and content (see [`SweepConfig::ioc_dirs`]).
fn load_ioc_dir(
    dir: &std::path::Path,
    names: &mut names::NameSet,
    hashes: &mut hashes::HashIocs,
    problems: &mut Vec<LoadProblem>,
) {
    let files = match list_files(dir) {
        Ok(f) => f,
        Err(e) => {
            problems.push(LoadProblem { path: dir.display().to_string(), rule: None, reason: e.to_string() });
            return;
        }
    };
    for path in files {
        let shown = path.display().to_string();
        let file_name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if file_name.starts_with("readme") || file_name.starts_with('.') || file_name == "license" {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                problems.push(LoadProblem { path: shown, rule: None, reason: e.to_string() });
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        if ext == "yml" || ext == "yaml" {
            names.add_yaml(&text, &shown, false, problems);
        } else if ext == "csv"
            && text.trim_start_matches('\u{feff}').starts_with("DateAdded,FirstSeen,Indicator,IndicatorType")
        {
            let (hash_lines, path_lines) = hashes::split_mstic_csv(&text, &shown, problems);
            hashes.add_entries(hash_lines, &shown, false);
            names.add_mstic_paths(path_lines, &shown, problems);
        } else if file_name.contains("hash") {
            hashes.add_list(&text, &shown, false, problems);
        } else if file_name.contains("filename") {
            names.add_filename_iocs(&text, &shown, problems);
        } else if file_name.contains("c2") || file_name.contains("keyword") {
            problems.push(LoadProblem {
                path: shown,
                rule: None,
                reason: "not used: network/keyword IOC list (the file sweep reads hash and filename lists)".into(),
            });
        } else {
            problems.push(LoadProblem {
                path: shown,
                rule: None,
                reason: "unrecognised IOC file: the name must contain `hash` or `filename`, or be a *.yml name \
                         rule file or an MSTIC feed *.csv"
                    .into(),
            });
        }
    }
}

/// All regular files below `dir` (or `dir` itself when it is a file), sorted, no symlinks followed.
pub(crate) fn list_files(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir)?;
    if meta.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Sweep>();
    }

    #[test]
    fn score_mapping_documented_cases() {
        assert_eq!(
            score_mapping(Some(85), "WEBSHELL_ASPX_X", &[]),
            (Severity::High, Stage::Webshell, Effect::Compromised)
        );
        assert_eq!(score_mapping(Some(95), "APT_X", &[]), (Severity::Critical, Stage::Execution, Effect::Compromised));
        assert_eq!(score_mapping(Some(70), "WEBSHELL_X", &[]), (Severity::Medium, Stage::Webshell, Effect::Review));
        assert_eq!(score_mapping(Some(75), "EXPL_X", &[]), (Severity::High, Stage::Exploit, Effect::Attempted));
        assert_eq!(score_mapping(None, "SUSP_X", &[]), (Severity::High, Stage::Execution, Effect::Review));
        assert_eq!(score_mapping(Some(50), "x", &["webshell"]), (Severity::Low, Stage::Webshell, Effect::None));
        assert_eq!(
            score_mapping(Some(80), "HKTL_Mimikatz", &[]),
            (Severity::High, Stage::CredentialAccess, Effect::Compromised)
        );
    }
}
