//! Name and path rules: known web shell names per folder, script pages where a stock install has
//! none, LSASS dumps, staging archives and tooling paths (built-in `names.yml`), plus user lists:
//! `*.yml` rules of the same schema, signature-base `regex;score[;fp-regex]` filename IOCs and the
//! file paths of Microsoft's MSTIC feed.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder, bytes};
use serde::Deserialize;
use taskforce_report::{Effect, Severity, Stage};

use crate::area::{Area, locate, windows_path};
use crate::{FileHit, HitKind, LoadProblem, RuleMeta, score_mapping};

pub(crate) const BUILTIN_NAMES: &str = include_str!("../../../rules/files/iocs/names.yml");

/// Filename IOC regexes per compiled set.
const PATH_SET_CHUNK: usize = 256;

/// Size limit for compiled user regexes (signature-base has a few large alternations).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One rule of `names.yml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameRuleDef {
    id: String,
    title: String,
    area: Option<Area>,
    #[serde(default)]
    names: Vec<String>,
    regex: Option<String>,
    #[serde(default)]
    extensions: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    anywhere: bool,
    #[serde(default)]
    fallback: bool,
    severity: Severity,
    stage: Stage,
    verdict: Effect,
    #[serde(default)]
    cves: Vec<String>,
    #[serde(default)]
    reference: String,
    /// `credentials_exposed`: a hit exposes every account with a session on the server.
    #[serde(default)]
    accounts: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the rule file
    description: String,
}

#[derive(Debug)]
struct NameRule {
    meta: RuleMeta,
    area: Option<Area>,
    names: HashSet<String>,
    regex: Option<Regex>,
    extensions: Vec<String>,
    except: HashSet<String>,
    anywhere: bool,
    fallback: bool,
    /// `builtin:…` or the user file.
    source: String,
}

/// A signature-base filename IOC line: a regex on the Windows form of the path.
#[derive(Debug)]
struct PathIoc {
    regex: String,
    fp: Option<bytes::Regex>,
    score: i64,
    comment: String,
    list: String,
    line: usize,
}

#[derive(Debug, Default)]
pub(crate) struct NameSet {
    rules: Vec<NameRule>,
    /// Regexes of `anywhere` rules (on `/` + lowercased path), and their rule indices.
    anywhere: Option<RegexSet>,
    anywhere_rules: Vec<usize>,
    path_iocs: Vec<PathIoc>,
    /// The filename IOC regexes in chunks (index of the first pattern, set): one set of
    /// thousands of patterns thrashes the lazy DFA's cache: about 6x slower per path on
    /// signature-base's 3,848 filename IOCs than sets of 256.
    path_sets: Vec<(usize, bytes::RegexSet)>,
}

impl NameSet {
    pub(crate) fn len(&self) -> usize {
        self.rules.len() + self.path_iocs.len()
    }

    /// The file each rule and filename IOC came from, one entry per rule or IOC.
    pub(crate) fn origins(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.source.as_str()).chain(self.path_iocs.iter().map(|p| p.list.as_str()))
    }

    /// Adds the rules of a `names.yml`-schema file.
    pub(crate) fn add_yaml(&mut self, text: &str, source: &str, builtin: bool, problems: &mut Vec<LoadProblem>) {
        let defs: Vec<serde_norway::Value> = match serde_norway::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(LoadProblem { path: source.into(), rule: None, reason: format!("invalid YAML: {e}") });
                return;
            }
        };
        for value in defs {
            let id = value.get("id").and_then(|v| v.as_str()).map(str::to_string);
            let def: NameRuleDef = match serde_norway::from_value(value) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(LoadProblem { path: source.into(), rule: id, reason: format!("invalid rule: {e}") });
                    continue;
                }
            };
            match compile_def(def, source) {
                Ok(rule) => self.rules.push(rule),
                Err((id, reason)) => {
                    let reason = if builtin { format!("built-in rule broken: {reason}") } else { reason };
                    problems.push(LoadProblem { path: source.into(), rule: Some(id), reason });
                }
            }
        }
    }

    /// Adds signature-base `regex;score[;fp-regex]` lines (`#` lines are comments; the last one
    /// before a line describes it).
    pub(crate) fn add_filename_iocs(&mut self, text: &str, source: &str, problems: &mut Vec<LoadProblem>) {
        let mut comment = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(c) = line.strip_prefix('#') {
                comment = c.trim().to_string();
                continue;
            }
            let problem =
                |reason: String| LoadProblem { path: source.into(), rule: Some(format!("line {}", i + 1)), reason };
            let mut parts = line.splitn(3, ';');
            let regex = parts.next().unwrap_or_default().to_string();
            let Some(score) = parts.next().and_then(|s| s.trim().parse::<i64>().ok()) else {
                problems.push(problem("expected `regex;score[;false-positive-regex]`".into()));
                continue;
            };
            if let Err(e) = build_ioc_regex(&regex) {
                problems.push(problem(format!("regex not supported: {}", first_line(&e.to_string()))));
                continue;
            }
            let fp = match parts.next().map(str::trim).filter(|s| !s.is_empty()) {
                Some(fp) => match build_ioc_regex(fp) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        problems.push(problem(format!(
                            "false-positive regex not supported: {}",
                            first_line(&e.to_string())
                        )));
                        continue;
                    }
                },
                None => None,
            };
            self.path_iocs.push(PathIoc {
                regex,
                fp,
                score,
                comment: comment.clone(),
                list: source.into(),
                line: i + 1,
            });
        }
    }

    /// Adds the `filepath` indicators of an MSTIC feed as exact-path rules in their area.
    pub(crate) fn add_mstic_paths(
        &mut self,
        paths: Vec<(String, String)>,
        source: &str,
        problems: &mut Vec<LoadProblem>,
    ) {
        for (path, date) in paths {
            let normalised = path.replace('\\', "/");
            let Some(loc) = locate(&normalised) else {
                problems.push(LoadProblem {
                    path: source.into(),
                    rule: Some(path.clone()),
                    reason: "file path outside the swept folders: not used".into(),
                });
                continue;
            };
            let rel = loc.rel.to_ascii_lowercase();
            let script = is_script_page(&rel);
            self.rules.push(NameRule {
                meta: RuleMeta {
                    id: "USER-MSTIC-FILEPATH".into(),
                    title: format!("File path from Microsoft's IOC feed ({date})"),
                    severity: Severity::Critical,
                    stage: if script { Stage::Webshell } else { Stage::Execution },
                    effect: Effect::Compromised,
                    cves: Vec::new(),
                    reference: format!("{source}: {path}"),
                    all_sessions: None,
                },
                area: Some(loc.area),
                names: HashSet::from([rel]),
                regex: None,
                extensions: Vec::new(),
                except: HashSet::new(),
                anywhere: false,
                fallback: false,
                source: source.into(),
            });
        }
    }

    /// Builds the regex sets; call once after all rules were added.
    pub(crate) fn finish(&mut self, problems: &mut Vec<LoadProblem>) {
        let mut patterns = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.anywhere
                && let Some(re) = &rule.regex
            {
                patterns.push(re.as_str().to_string());
                self.anywhere_rules.push(i);
            }
        }
        if !patterns.is_empty() {
            self.anywhere = RegexSetBuilder::new(&patterns).case_insensitive(true).build().ok();
        }
        for (chunk_no, chunk) in self.path_iocs.chunks(PATH_SET_CHUNK).enumerate() {
            let set = bytes::RegexSetBuilder::new(chunk.iter().map(|p| p.regex.as_str()))
                .case_insensitive(true)
                .unicode(false)
                .size_limit(REGEX_SIZE_LIMIT * 16)
                .build();
            match set {
                Ok(set) => self.path_sets.push((chunk_no * PATH_SET_CHUNK, set)),
                Err(e) => problems.push(LoadProblem {
                    path: chunk[0].list.clone(),
                    rule: Some(format!("lines {}-{}", chunk[0].line, chunk[chunk.len() - 1].line)),
                    reason: format!("these filename IOCs did not compile together and are not used: {e}"),
                }),
            }
        }
    }

    /// Whether a path outside the areas is brought in by an `anywhere` rule or a filename IOC.
    pub(crate) fn matches_anywhere(&self, path: &str) -> bool {
        if let Some(set) = &self.anywhere
            && set.is_match(&format!("/{}", path.trim_start_matches('/').to_ascii_lowercase()))
        {
            return true;
        }
        if self.path_sets.is_empty() {
            return false;
        }
        let windows = windows_path(path);
        self.path_sets.iter().any(|(_, set)| set.is_match(windows.as_bytes()))
    }

    /// The name and path hits of one file. `rel` is the path below the area folder.
    pub(crate) fn check(&self, path: &str, area: Area, rel: &str) -> Vec<FileHit> {
        let full = format!("/{}", path.trim_start_matches('/').to_ascii_lowercase());
        let rel = rel.to_ascii_lowercase();
        let ext = rel.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.contains('/')).unwrap_or("");
        let shown = windows_path(path);
        let mut primary = Vec::new();
        let mut fallback = Vec::new();
        for rule in &self.rules {
            let target = match rule.area {
                Some(a) if a != area => continue,
                Some(_) => rel.as_str(),
                None => full.as_str(),
            };
            if !rule.extensions.is_empty() && !rule.extensions.iter().any(|e| e == ext) {
                continue;
            }
            if rule.except.contains(rel.as_str()) {
                continue;
            }
            let by_name = rule.names.contains(target);
            let by_regex = rule.regex.as_ref().is_some_and(|r| r.is_match(target));
            let unconditional = rule.names.is_empty() && rule.regex.is_none();
            if by_name || by_regex || unconditional {
                let mut detail = vec![("area".to_string(), area.as_str().to_string())];
                if !rule.source.starts_with("builtin:") {
                    detail.push(("ioc_list".into(), rule.source.clone()));
                }
                let hit = rule.meta.hit(HitKind::Name, shown.clone(), detail);
                if rule.fallback { fallback.push(hit) } else { primary.push(hit) }
            }
        }
        for (first, set) in &self.path_sets {
            for i in set.matches(shown.as_bytes()).iter() {
                let ioc = &self.path_iocs[first + i];
                if ioc.fp.as_ref().is_some_and(|fp| fp.is_match(shown.as_bytes())) {
                    continue;
                }
                let (severity, _, _) = score_mapping(Some(ioc.score), "", &[]);
                let script = is_script_page(&rel);
                let title = if ioc.comment.is_empty() {
                    "File name or path on an IOC list".to_string()
                } else {
                    format!("File name or path on an IOC list: {}", ioc.comment)
                };
                let meta = RuleMeta {
                    id: "USER-FILENAME-IOC".into(),
                    title,
                    severity,
                    stage: if script { Stage::Webshell } else { Stage::Execution },
                    effect: if ioc.score >= 80 {
                        Effect::Compromised
                    } else if severity > Severity::Low {
                        Effect::Review
                    } else {
                        Effect::None
                    },
                    cves: Vec::new(),
                    reference: String::new(),
                    all_sessions: None,
                };
                let detail = vec![
                    ("area".to_string(), area.as_str().to_string()),
                    ("ioc_list".into(), ioc.list.clone()),
                    ("ioc_line".into(), ioc.line.to_string()),
                    ("ioc_regex".into(), ioc.regex.clone()),
                    ("score".into(), ioc.score.to_string()),
                ];
                primary.push(meta.hit(HitKind::Name, shown.clone(), detail));
            }
        }
        if primary.is_empty() { fallback } else { primary }
    }
}

fn compile_def(def: NameRuleDef, source: &str) -> Result<NameRule, (String, String)> {
    let id = def.id.clone();
    if def.names.is_empty() && def.regex.is_none() && def.extensions.is_empty() {
        return Err((id, "a rule needs `names`, `regex` or `extensions`".into()));
    }
    if def.anywhere && (def.area.is_some() || def.regex.is_none()) {
        return Err((id, "`anywhere` needs a `regex` on the whole path and no `area`".into()));
    }
    let regex = match &def.regex {
        Some(r) => {
            Some(build_regex(r).map_err(|e| (id.clone(), format!("bad regex: {}", first_line(&e.to_string()))))?)
        }
        None => None,
    };
    // `clean` means nothing above `low`: a context-only rule must stay at `low`, and a rule that
    // wants a person to look says `review`.
    if def.verdict == Effect::None && def.severity > Severity::Low {
        return Err((id, format!("severity {} with verdict none: use verdict review (or info/low)", def.severity)));
    }
    if let Some(a) = &def.accounts
        && a.parse::<taskforce_report::AccountAction>().is_err()
    {
        return Err((id, format!("accounts: unknown action {a:?}")));
    }
    let lower = |v: Vec<String>| v.into_iter().map(|s| s.trim().replace('\\', "/").to_ascii_lowercase()).collect();
    Ok(NameRule {
        meta: RuleMeta {
            id: def.id,
            title: def.title,
            severity: def.severity,
            stage: def.stage,
            effect: def.verdict,
            cves: def.cves,
            reference: def.reference,
            all_sessions: def.accounts,
        },
        area: def.area,
        names: lower(def.names),
        regex,
        extensions: def.extensions.iter().map(|e| e.trim_start_matches('.').to_ascii_lowercase()).collect(),
        except: lower(def.except),
        anywhere: def.anywhere,
        fallback: def.fallback,
        source: source.into(),
    })
}

/// User filename IOCs: ASCII-only classes and case folding (`\w`, `[^\\]`, `(?i)` as Python's
/// `re` on Windows paths mostly behaves), over bytes. Thousands of them then fit one fast DFA;
/// with Unicode classes the combined set is several times slower per path.
fn build_ioc_regex(re: &str) -> Result<bytes::Regex, regex::Error> {
    bytes::RegexBuilder::new(re).case_insensitive(true).unicode(false).size_limit(REGEX_SIZE_LIMIT).build()
}

fn build_regex(re: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(re).case_insensitive(true).size_limit(REGEX_SIZE_LIMIT).build()
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| l.starts_with("error:")).or_else(|| s.lines().last()).unwrap_or(s).trim()
}

pub(crate) fn is_script_page(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".aspx", ".asp", ".ashx", ".asmx", ".asa", ".cer", ".cshtml"].iter().any(|e| n.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> NameSet {
        let mut set = NameSet::default();
        let mut problems = Vec::new();
        set.add_yaml(BUILTIN_NAMES, "builtin", true, &mut problems);
        set.finish(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        set
    }

    fn ids(set: &NameSet, path: &str) -> Vec<String> {
        let loc = locate(path);
        let (area, rel) = match &loc {
            Some(l) => (l.area, l.rel),
            None => (Area::Other, path.rsplit('/').next().unwrap()),
        };
        set.check(path, area, rel).into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn known_names_win_over_the_generic_page_rule() {
        let set = builtin();
        assert_eq!(ids(&set, "C/inetpub/wwwroot/aspnet_client/shell.aspx"), ["TF-FS-02-ASPNET-CLIENT-NAME"]);
        assert_eq!(
            ids(&set, "C/inetpub/wwwroot/aspnet_client/system_web/AbCd1234.aspx"),
            ["TF-FS-02-ASPNET-CLIENT-NAME"]
        );
        assert_eq!(ids(&set, "C/inetpub/wwwroot/aspnet_client/other.aspx"), ["TF-FS-01-ASPNET-CLIENT-PAGE"]);
        assert!(ids(&set, "C/inetpub/wwwroot/aspnet_client/system_web/4_0_30319/WebUIValidation.js").is_empty());
    }
}
