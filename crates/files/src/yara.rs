//! YARA with `yara-x`: the built-in rules (`rules/files/yara`) and user rule folders compiled
//! best-effort into one rule set (a namespace per file), metadata mapped once at load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use include_dir::{Dir, include_dir};
use regex::Regex;
use taskforce_report::{Effect, Severity, Stage};

use crate::{FileHit, HitKind, LoadProblem, RuleMeta, YaraStats, score_mapping};

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules/files/yara");

/// Namespace of the built-in rules.
pub(crate) const BUILTIN_NAMESPACE: &str = "taskforce";

/// The external variables Loki/THOR define and signature-base's rules use.
pub(crate) const EXTERNALS: [&str; 5] = ["filename", "filepath", "extension", "filetype", "owner"];

/// yara-x modules this build does not include (see the workspace `yara-x` features): rules that
/// use them are skipped and listed, the rest of their file still compiles.
const ABSENT_MODULES: &[&str] =
    &["magic", "cuckoo", "dotnet", "elf", "macho", "lnk", "dex", "crx", "zip", "vt", "olecf", "vba", "msi"];

/// Per-file scan timeout.
pub(crate) const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct YaraSet {
    pub rules: yara_x::Rules,
    /// (namespace, rule) → what a hit reports.
    meta: HashMap<(String, String), RuleMeta>,
    /// The file each compiled rule came from (`builtin:…` or the path), one entry per rule.
    pub origins: Vec<String>,
}

/// One rule file's declared rules, by byte offset, to name the rule an error points into.
struct Declared {
    names: Vec<(usize, String)>,
}

impl Declared {
    /// The rules as yara-x's own parser sees them (comments and strings that look like rules do
    /// not count). A file with syntax errors may show fewer rules than it was meant to have.
    fn of(src: &str) -> Declared {
        use yara_x_parser::ast::WithSpan;
        let ast = yara_x_parser::ast::AST::from(src);
        Declared {
            names: ast.rules().map(|r| (r.identifier.span().0.start as usize, r.identifier.name.to_string())).collect(),
        }
    }

    fn rule_at(&self, offset: usize) -> Option<String> {
        self.names.iter().take_while(|(o, _)| *o <= offset).last().map(|(_, n)| n.clone())
    }
}

impl YaraSet {
    pub(crate) fn compile(
        builtin: bool,
        dirs: &[PathBuf],
        problems: &mut Vec<LoadProblem>,
    ) -> (Option<YaraSet>, YaraStats) {
        let mut sources: Vec<(String, String, String)> = Vec::new(); // (shown path, namespace, text)
        if builtin {
            let mut files: Vec<_> = BUILTIN.files().filter(|f| is_rule_file(f.path())).collect();
            files.sort_by_key(|f| f.path());
            for f in files {
                let text = String::from_utf8_lossy(f.contents()).into_owned();
                sources.push((
                    format!("builtin:rules/files/yara/{}", f.path().display()),
                    BUILTIN_NAMESPACE.into(),
                    text,
                ));
            }
        }
        for dir in dirs {
            let files = match crate::list_files(dir) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(LoadProblem { path: dir.display().to_string(), rule: None, reason: e.to_string() });
                    continue;
                }
            };
            for path in files.into_iter().filter(|p| is_rule_file(p)) {
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let ns = namespace_for(dir, &path);
                        sources.push((path.display().to_string(), ns, String::from_utf8_lossy(&bytes).into_owned()));
                    }
                    Err(e) => problems.push(LoadProblem {
                        path: path.display().to_string(),
                        rule: None,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        if sources.is_empty() {
            return (None, YaraStats::default());
        }

        let mut compiler = yara_x::Compiler::new();
        compiler.relaxed_re_syntax(true);
        compiler.enable_includes(false);
        for m in ABSENT_MODULES {
            compiler.ignore_module(*m);
        }
        for var in EXTERNALS {
            compiler.define_global(var, "").expect("fresh compiler accepts globals");
        }
        let mut stats = YaraStats::default();
        for (shown, ns, text) in &sources {
            stats.files += 1;
            let declared = Declared::of(text);
            stats.declared += declared.names.len();
            let before = compiler.errors().len();
            compiler.new_namespace(ns);
            let _ = compiler.add_source(yara_x::SourceCode::from(text.as_str()).with_origin(shown.as_str()));
            for err in &compiler.errors()[before..] {
                let offset = err.labels().next().map(|l| l.span().0.start as usize);
                let rule = offset.and_then(|o| declared.rule_at(o));
                let label = err.labels().next().map(|l| l.text().to_string()).unwrap_or_default();
                let reason = if label.is_empty() || label == err.title() {
                    err.title().to_string()
                } else {
                    format!("{}: {label}", err.title())
                };
                problems.push(LoadProblem { path: shown.clone(), rule, reason });
            }
        }
        let ignored: Vec<(String, String)> = compiler
            .ignored_rules()
            .filter_map(|(rule, reason)| match reason {
                yara_x::IgnoredRuleReason::IgnoredModule(m) => {
                    Some((rule.to_string(), format!("uses the `{m}` module, which this build does not include")))
                }
                yara_x::IgnoredRuleReason::IgnoredRule(r) => {
                    Some((rule.to_string(), format!("depends on rule `{r}`, which was skipped")))
                }
                // Already listed from `errors()`.
                yara_x::IgnoredRuleReason::CompileError(_) => None,
            })
            .collect();
        if !ignored.is_empty() {
            // Ignored rules are reported by name only; find their file.
            let mut file_of: HashMap<String, &str> = HashMap::new();
            for (shown, _, text) in &sources {
                for (_, name) in Declared::of(text).names {
                    file_of.entry(name).or_insert(shown.as_str());
                }
            }
            for (rule, reason) in ignored {
                let path = file_of.get(&rule).copied().unwrap_or_default().to_string();
                problems.push(LoadProblem { path, rule: Some(rule), reason });
            }
        }

        let rules = compiler.build();
        let mut meta = HashMap::new();
        let mut file_of_rule: HashMap<(String, String), &str> = HashMap::new();
        for (shown, ns, text) in &sources {
            for (_, name) in Declared::of(text).names {
                file_of_rule.entry((ns.clone(), name)).or_insert(shown.as_str());
            }
        }
        let mut origins = Vec::new();
        for rule in rules.iter() {
            let ns = rule.namespace().to_string();
            let id = rule.identifier().to_string();
            origins.push(file_of_rule.get(&(ns.clone(), id.clone())).copied().unwrap_or_default().to_string());
            let m = if ns == BUILTIN_NAMESPACE { builtin_meta(&rule, problems) } else { user_meta(&rule, &ns) };
            meta.insert((ns, id), m);
            stats.compiled += 1;
        }
        (Some(YaraSet { rules, meta, origins }), stats)
    }

    /// The scanner of one thread: timeout set, fast scan (first match per pattern is enough).
    pub(crate) fn scanner(&self) -> yara_x::Scanner<'_> {
        let mut s = yara_x::Scanner::new(&self.rules);
        s.set_timeout(SCAN_TIMEOUT);
        s.fast_scan(true);
        s
    }

    /// Scans a buffer; `path` is the normalised evidence path (for the external variables).
    pub(crate) fn scan(
        &self,
        scanner: &mut yara_x::Scanner<'_>,
        path: &str,
        data: &[u8],
    ) -> Result<Vec<FileHit>, String> {
        let windows = crate::windows_path(path);
        let filename = windows.rsplit('\\').next().unwrap_or_default().to_string();
        let extension =
            filename.rsplit_once('.').map(|(_, e)| format!(".{}", e.to_ascii_lowercase())).unwrap_or_default();
        for (var, value) in [
            ("filename", filename.as_str()),
            ("filepath", windows.as_str()),
            ("extension", extension.as_str()),
            ("filetype", filetype(data)),
            ("owner", ""),
        ] {
            scanner.set_global(var, value).map_err(|e| e.to_string())?;
        }
        let results = scanner.scan(data).map_err(|e| format!("YARA scan failed: {e}"))?;
        let mut hits = Vec::new();
        for rule in results.matching_rules() {
            let key = (rule.namespace().to_string(), rule.identifier().to_string());
            let Some(meta) = self.meta.get(&key) else { continue };
            // The first match of each matching pattern, in rule order, within about 400 chars.
            let mut parts = Vec::new();
            let mut len = 0;
            for pattern in rule.patterns() {
                if let Some(m) = pattern.matches().next() {
                    let part = printable(m.data(), 100);
                    len += part.len() + 3;
                    parts.push(part);
                }
                if len >= 400 {
                    break;
                }
            }
            let mut detail = vec![("yara_namespace".to_string(), key.0.clone())];
            if meta.id != key.1 {
                detail.push(("yara_rule".to_string(), key.1.clone()));
            }
            hits.push(meta.hit(HitKind::Yara, parts.join(" | "), detail));
        }
        Ok(hits)
    }
}

fn is_rule_file(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"))
}

/// The namespace of a user rule file: its path below the folder, `/`-separated.
fn namespace_for(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    let name = rel.to_string_lossy().replace('\\', "/");
    if name.is_empty() { file.display().to_string() } else { name }
}

fn meta_str<'r>(rule: &yara_x::Rule<'_, 'r>, key: &str) -> Option<String> {
    rule.metadata().find(|(k, _)| *k == key).map(|(_, v)| match v {
        yara_x::MetaValue::String(s) => s.to_string(),
        yara_x::MetaValue::Integer(i) => i.to_string(),
        yara_x::MetaValue::Float(f) => f.to_string(),
        yara_x::MetaValue::Bool(b) => b.to_string(),
        yara_x::MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    })
}

/// Our rules declare everything in `meta:`; a missing or misspelt field is a load problem
/// (caught by the tests) and falls back to the score mapping.
fn builtin_meta(rule: &yara_x::Rule<'_, '_>, problems: &mut Vec<LoadProblem>) -> RuleMeta {
    let name = rule.identifier();
    let parsed = (|| -> Result<RuleMeta, String> {
        let get = |k: &str| meta_str(rule, k).ok_or_else(|| format!("missing meta `{k}`"));
        Ok(RuleMeta {
            id: get("id")?,
            title: get("title")?,
            severity: get("severity")?.parse::<Severity>()?,
            stage: get("stage")?.parse::<Stage>()?,
            effect: get("verdict")?.parse::<Effect>()?,
            cves: get("cves")?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            reference: get("reference")?,
            all_sessions: None,
        })
    })();
    parsed.unwrap_or_else(|reason| {
        problems.push(LoadProblem {
            path: "builtin:rules/files/yara".into(),
            rule: Some(name.to_string()),
            reason: format!("built-in rule meta: {reason}"),
        });
        user_meta(rule, BUILTIN_NAMESPACE)
    })
}

/// A user rule: severity, stage and effect from its `score` (see [`score_mapping`]).
fn user_meta(rule: &yara_x::Rule<'_, '_>, namespace: &str) -> RuleMeta {
    let name = rule.identifier();
    let score = rule.metadata().find(|(k, _)| *k == "score").and_then(|(_, v)| match v {
        yara_x::MetaValue::Integer(i) => Some(i),
        yara_x::MetaValue::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let tags: Vec<&str> = rule.tags().map(|t| t.identifier()).collect();
    let (severity, stage, effect) = score_mapping(score, name, &tags);
    let description = meta_str(rule, "description").unwrap_or_default();
    let title =
        if description.is_empty() { format!("YARA rule {name}") } else { format!("YARA {name}: {description}") };
    let reference =
        [Some(format!("{namespace}:{name}")), meta_str(rule, "reference"), score.map(|s| format!("score {s}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
    RuleMeta {
        id: name.to_string(),
        title,
        severity,
        stage,
        effect,
        cves: cves_in(&description, name),
        reference,
        all_sessions: None,
    }
}

static CVE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)CVE[-_](\d{4})[-_](\d{4,7})").expect("valid regex"));

fn cves_in(description: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> =
        CVE.captures_iter(&format!("{description} {name}")).map(|c| format!("CVE-{}-{}", &c[1], &c[2])).collect();
    v.sort();
    v.dedup();
    v
}

/// Loki's file type names for the `filetype` external, from the first bytes.
fn filetype(data: &[u8]) -> &'static str {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"MZ") {
        "EXE"
    } else if starts(b"MDMP") {
        "MDMP"
    } else if starts(b"PK\x03\x04") {
        "ZIP"
    } else if starts(b"\x7fELF") {
        "ELF"
    } else if starts(b"%PDF") {
        "PDF"
    } else if starts(b"{\\rtf") {
        "RTF"
    } else if starts(b"!BDN") {
        "PST"
    } else if starts(b"\xd0\xcf\x11\xe0") {
        "OLE"
    } else {
        ""
    }
}

/// Matched bytes as printable text: control and non-ASCII bytes as `\xNN`, at most `max` chars.
pub(crate) fn printable(data: &[u8], max: usize) -> String {
    // UTF-16LE text (a `wide` string): show its characters.
    let wide = data.len() >= 4 && data.len().is_multiple_of(2) && data.iter().skip(1).step_by(2).all(|&b| b == 0);
    let narrowed: Vec<u8>;
    let data = if wide {
        narrowed = data.iter().step_by(2).copied().collect();
        &narrowed[..]
    } else {
        data
    };
    let mut out = String::new();
    for &b in data {
        if out.len() >= max {
            out.push('…');
            break;
        }
        match b {
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}
