//! One self-contained HTML page for one or many servers: a fleet summary (worst first), then per
//! server its verdict, patch status, a timeline by stage drawn as inline SVG, the findings with
//! their evidence, the indicators, coverage and what to do; then the files that could not be
//! read. No external request of any kind (CSS inline, no script, a CSP that forbids loading
//! anything), every log-derived string escaped, printable (one server per page).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::indicators::{IndicatorKind, indicators};
use crate::model::{Finding, Host, Report, Severity, Stage, Verdict};
use crate::render::{group_by_rule, next_steps, stage_label};
use crate::time::{report_time, stix_time_of};

/// Rule groups shown per stage before the rest is summarised (the JSON report has them all).
const GROUPS_PER_STAGE: usize = 40;
/// Dots drawn on one host's timeline.
const MAX_DOTS: usize = 2_000;

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--crit:#a4000f;--high:#d1410c;--med:#b07800;--low:#1f6f8b;--info:#6b6b6b;--ok:#1e7b34;--ink:#1b1b1b;--line:#d0d0d0}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0 auto;max-width:1200px;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.3rem;margin:2rem 0 .4rem;border-bottom:2px solid var(--ink);padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid var(--line);padding:.25rem .45rem;text-align:left;vertical-align:top}th{background:#f2f2f2}
code,pre{font:12px/1.35 ui-monospace,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.v{display:inline-block;padding:.05rem .5rem;border-radius:3px;font-weight:700;color:#fff;text-transform:uppercase;font-size:.8rem}
.v-compromised{background:var(--crit)}.v-attempted{background:var(--med)}.v-clean{background:var(--ok)}.v-inconclusive{background:var(--info)}
.s-critical{color:var(--crit);font-weight:700}.s-high{color:var(--high);font-weight:700}.s-medium{color:var(--med)}.s-low{color:var(--low)}.s-info{color:var(--info)}
.muted{color:#555}.vuln{color:var(--crit);font-weight:700}.num{text-align:right}
svg{max-width:100%;height:auto;border:1px solid var(--line);background:#fafafa}
ol li{margin:.2rem 0}a{color:#0b4f9c}
@media print{body{max-width:none;padding:0;font-size:11px}section.host{page-break-before:always}a{color:inherit;text-decoration:none}}
"#;

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Compromised => 0,
        Verdict::Attempted => 1,
        Verdict::Inconclusive => 2,
        Verdict::Clean => 3,
    }
}

fn severity_counts(h: &Host) -> [usize; 5] {
    let mut c = [0; 5];
    for f in &h.findings {
        c[4 - f.severity as usize] += 1;
    }
    c
}

fn patch_summary(h: &Host) -> String {
    let mut parts = Vec::new();
    for p in &h.patch {
        let status = match (p.status.as_str(), &p.fixed_in) {
            ("vulnerable", Some(b)) => format!("<span class=\"vuln\">vulnerable</span> (fixed in {})", esc(b)),
            ("vulnerable", None) => "<span class=\"vuln\">vulnerable</span> (no update for this version)".into(),
            (s, _) => esc(s),
        };
        parts.push(format!("{}: {status}", esc(&p.family)));
    }
    parts.join("<br>")
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut hosts: Vec<(usize, &Host)> = report.hosts.iter().enumerate().collect();
    hosts.sort_by_key(|(i, h)| (rank(h.verdict), *i));
    let generated = stix_time_of(report_time(report));
    let mut page = String::with_capacity(64 * 1024);
    let count = |v: Verdict| report.hosts.iter().filter(|h| h.verdict == v).count();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>taskforce hunt report: {n} Exchange server(s)</title><style>{STYLE}</style></head><body>\n\
<header><h1>Exchange compromise assessment</h1><p class=\"muted\">{tool} {version} · generated {generated} · schema {schema}</p>\
<p><strong>{n} server(s):</strong> {c} compromised, {a} attempted, {cl} clean, {i} inconclusive.</p></header>\n",
        n = report.hosts.len(),
        tool = esc(&report.tool.name),
        version = esc(&report.tool.version),
        schema = esc(&report.schema),
        c = count(Verdict::Compromised),
        a = count(Verdict::Attempted),
        cl = count(Verdict::Clean),
        i = count(Verdict::Inconclusive),
    );
    page.push_str("<section id=\"fleet\"><h2>Fleet summary</h2><table><thead><tr><th>Server</th><th>Verdict</th><th>Why</th><th>Exchange build</th><th>Patch status</th><th class=\"num\" title=\"critical\">crit</th><th class=\"num\">high</th><th class=\"num\">med</th><th class=\"num\">low</th><th class=\"num\">info</th></tr></thead><tbody>\n");
    for (i, h) in &hosts {
        let c = severity_counts(h);
        let _ = writeln!(
            page,
            "<tr><td><a href=\"#host-{i}\">{name}</a></td><td><span class=\"v v-{v}\">{v}</span></td><td>{reason}</td><td>{build}</td><td>{patch}</td>{counts}</tr>",
            name = esc(&h.name),
            v = h.verdict,
            reason = esc(&h.reason),
            build = esc(h.exchange_build.as_deref().unwrap_or("unknown")),
            patch = patch_summary(h),
            counts = c.iter().map(|n| format!("<td class=\"num\">{n}</td>")).collect::<String>(),
        );
    }
    page.push_str("</tbody></table></section>\n");
    for (i, h) in &hosts {
        host_section(&mut page, *i, h);
    }
    if !report.skipped.is_empty() {
        let _ = write!(
            page,
            "<section id=\"skipped\"><h2>Files that could not be read ({})</h2><table><thead><tr><th>File</th><th>Why</th></tr></thead><tbody>",
            report.skipped.len()
        );
        for s in &report.skipped {
            let _ = write!(page, "<tr><td><code>{}</code></td><td>{}</td></tr>", esc(&s.path), esc(&s.reason));
        }
        page.push_str("</tbody></table></section>\n");
    }
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

fn host_section(page: &mut String, i: usize, h: &Host) {
    let _ = write!(
        page,
        "<section class=\"host\" id=\"host-{i}\"><h2>{name} <span class=\"v v-{v}\">{v}</span></h2><p>{reason}</p>\
<table><tbody><tr><th>Evidence</th><td><code>{evidence}</code></td></tr><tr><th>Exchange build</th><td>{build}</td></tr><tr><th>Patch status</th><td>{patch}</td></tr></tbody></table>",
        name = esc(&h.name),
        v = h.verdict,
        reason = esc(&h.reason),
        evidence = esc(&h.evidence),
        build = esc(h.exchange_build.as_deref().unwrap_or("unknown (no build in these logs)")),
        patch = patch_summary(h),
    );
    if !h.findings.is_empty() {
        page.push_str("<h3>Timeline</h3>");
        timeline_svg(page, h);
        findings_table(page, h);
    } else {
        page.push_str("<p>No findings.</p>");
    }
    if !h.accounts.is_empty() {
        let _ = write!(
            page,
            "<h3>Accounts the attacker touched ({})</h3><table><thead><tr><th>Account</th><th>What was done</th><th>First</th><th>Last</th><th>What to do</th><th>Evidence</th></tr></thead><tbody>",
            h.accounts.len()
        );
        for a in &h.accounts {
            let name = if a.account == crate::model::ALL_SESSIONS {
                "<em>every account with a session on this server</em>".to_string()
            } else {
                format!("<code>{}</code>", esc(&a.account))
            };
            let evidence: Vec<String> = a
                .findings
                .iter()
                .take(5)
                .map(|f| match f.line {
                    Some(l) => format!("{} ({}:{l})", f.rule, f.source),
                    None => format!("{} ({})", f.rule, f.source),
                })
                .collect();
            let _ = write!(
                page,
                "<tr><td>{name}<br><span class=\"muted\">{kind}</span></td><td>{actions}</td><td>{first}</td><td>{last}</td><td>{note}</td><td><span class=\"muted\">{evidence}</span></td></tr>",
                kind = esc(&a.kind),
                actions = esc(&a.actions.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
                first = time_cell(a.first.as_deref()),
                last = time_cell(a.last.as_deref()),
                note = esc(&a.note),
                evidence = esc(&evidence.join("; ")),
            );
        }
        page.push_str("</tbody></table>");
    }
    let iocs = indicators(h);
    if !iocs.is_empty() {
        page.push_str("<h3>Indicators</h3><table><thead><tr><th>Kind</th><th>Value</th><th>First seen</th><th>Last seen</th><th>Rules</th></tr></thead><tbody>");
        for ioc in &iocs {
            let kind = match ioc.kind {
                IndicatorKind::Address => "attacker address",
                IndicatorKind::WebShellPath => "web shell / written page",
                IndicatorKind::Sha256 => "SHA-256",
                IndicatorKind::Sha1 => "SHA-1",
                IndicatorKind::Md5 => "MD5",
            };
            let _ = write!(
                page,
                "<tr><td>{kind}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ioc.value),
                time_cell(ioc.first.as_deref()),
                time_cell(ioc.last.as_deref()),
                esc(&ioc.rules.join(", "))
            );
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("<h3>Logs read</h3>");
    if h.coverage.is_empty() {
        page.push_str("<p>None of the logs the checks read were found.</p>");
    } else {
        page.push_str("<table><thead><tr><th>Source</th><th class=\"num\">Files</th><th>First entry</th><th>Last entry</th></tr></thead><tbody>");
        for c in &h.coverage {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.source),
                c.files,
                time_cell(c.first.as_deref()),
                time_cell(c.last.as_deref())
            );
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("<h3>What to do next</h3><ol>");
    for step in next_steps(h) {
        let _ = write!(page, "<li>{}</li>", esc(&step));
    }
    page.push_str("</ol></section>\n");
}

fn time_cell(t: Option<&str>) -> String {
    match t {
        Some(t) => format!(
            "<time datetime=\"{0}\">{1}</time>",
            esc(t),
            esc(&t.replace('T', " ").chars().take(19).collect::<String>())
        ),
        None => "<span class=\"muted\">—</span>".into(),
    }
}

fn findings_table(page: &mut String, h: &Host) {
    page.push_str("<h3>Findings and their evidence</h3>");
    let mut stages: Vec<Stage> = h.findings.iter().map(|f| f.stage).collect();
    stages.sort();
    stages.dedup();
    for stage in stages {
        let in_stage: Vec<&Finding> = h.findings.iter().filter(|f| f.stage == stage).collect();
        let groups = group_by_rule(&in_stage);
        let _ = write!(
            page,
            "<h4>{} ({} finding(s))</h4><table><thead><tr><th>When</th><th>Severity</th><th>Rule</th><th>Evidence</th></tr></thead><tbody>",
            esc(stage_label(stage)),
            in_stage.len()
        );
        for g in groups.iter().take(GROUPS_PER_STAGE) {
            let f = g.first;
            let place = match f.line {
                Some(l) => format!("{}:{l}", f.source),
                None => f.source.clone(),
            };
            let repeat = match (g.count, g.last_time) {
                (1, _) => String::new(),
                (n, Some(last)) => format!("<br><span class=\"muted\">×{n}, last {}</span>", esc(last)),
                (n, None) => format!("<br><span class=\"muted\">×{n}</span>"),
            };
            let context = if g.context.is_empty() {
                String::new()
            } else {
                format!("<br><span class=\"muted\">{}</span>", esc(&g.context.join("  ")))
            };
            let _ = write!(
                page,
                "<tr><td>{when}{repeat}</td><td class=\"s-{sev}\">{sev}</td><td><code>{rule}</code><br>{title}{cves}</td><td><code>{place}</code><pre>{excerpt}</pre>{context}</td></tr>",
                when = time_cell(f.time.as_deref()),
                sev = g.severity,
                rule = esc(&f.rule),
                title = esc(&f.title),
                cves = if f.cves.is_empty() {
                    String::new()
                } else {
                    format!("<br><span class=\"muted\">{}</span>", esc(&f.cves.join(", ")))
                },
                place = esc(&place),
                excerpt = esc(&f.excerpt),
            );
        }
        if groups.len() > GROUPS_PER_STAGE {
            let _ = write!(
                page,
                "<tr><td colspan=\"4\">… and {} more rules in this stage (see the JSON report)</td></tr>",
                groups.len() - GROUPS_PER_STAGE
            );
        }
        page.push_str("</tbody></table>");
    }
}

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#a4000f",
        Severity::High => "#d1410c",
        Severity::Medium => "#b07800",
        Severity::Low => "#1f6f8b",
        Severity::Info => "#8a8a8a",
    }
}

/// Findings as dots on a time axis, one row per stage, coloured by severity.
fn timeline_svg(page: &mut String, h: &Host) {
    let dated: Vec<(&Finding, i64)> = h
        .findings
        .iter()
        .filter_map(|f| Some((f, f.time.as_deref()?.parse::<jiff::Timestamp>().ok()?.as_second())))
        .collect();
    if dated.is_empty() {
        page.push_str("<p class=\"muted\">No finding carries a time.</p>");
        return;
    }
    let mut stages: Vec<Stage> = dated.iter().map(|(f, _)| f.stage).collect();
    stages.sort();
    stages.dedup();
    let (lo, hi) = dated.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (_, t)| (lo.min(*t), hi.max(*t)));
    let (left, width, row) = (190.0, 760.0, 26.0);
    let height = 40.0 + row * stages.len() as f64;
    let x = |t: i64| if hi == lo { left + width / 2.0 } else { left + (t - lo) as f64 / (hi - lo) as f64 * width };
    let _ = write!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" role=\"img\" aria-label=\"Timeline of findings by stage\">",
        w = left + width + 30.0
    );
    for (r, stage) in stages.iter().enumerate() {
        let y = 20.0 + row * r as f64 + row / 2.0;
        let _ = write!(
            page,
            "<text x=\"6\" y=\"{ty}\" font-size=\"12\" font-family=\"sans-serif\">{label}</text><line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            ty = y + 4.0,
            label = esc(&stage.to_string()),
            x2 = left + width
        );
    }
    for (f, t) in dated.iter().take(MAX_DOTS) {
        let r = stages.iter().position(|s| *s == f.stage).unwrap_or(0);
        let y = 20.0 + row * r as f64 + row / 2.0;
        let _ = write!(
            page,
            "<circle cx=\"{cx:.1}\" cy=\"{y}\" r=\"5\" fill=\"{fill}\" fill-opacity=\"0.8\"><title>{title}</title></circle>",
            cx = x(*t),
            fill = severity_colour(f.severity),
            title = esc(&format!("{} {} {}", f.time.as_deref().unwrap_or(""), f.rule, f.title)),
        );
    }
    let fmt = |t: i64| {
        jiff::Timestamp::from_second(t).map(|ts| ts.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    };
    let _ = write!(
        page,
        "<text x=\"{left}\" y=\"{by}\" font-size=\"11\" font-family=\"sans-serif\">{a} UTC</text><text x=\"{right}\" y=\"{by}\" font-size=\"11\" font-family=\"sans-serif\" text-anchor=\"end\">{b} UTC</text></svg>",
        by = height - 6.0,
        right = left + width,
        a = fmt(lo),
        b = fmt(hi)
    );
    if dated.len() > MAX_DOTS {
        let _ =
            write!(page, "<p class=\"muted\">The first {MAX_DOTS} of {} dated findings are drawn.</p>", dated.len());
    }
}
