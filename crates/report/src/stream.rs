//! A report written one host at a time, for the formats that allow it (table, JSONL, CSV,
//! Timesketch): a fleet run (`taskforce hunt EVIDENCE/*`) then holds one host's findings in
//! memory, not the fleet's, and the first servers' results are out while the rest is hunted.

use std::io::{self, Write};

use crate::model::{Host, Report, Skipped, Verdict};
use crate::render::OutputFormat;

pub struct Stream {
    format: OutputFormat,
    color: bool,
    /// The run's context (schema, tool, `generated_at`, `rule_sets`) without hosts.
    context: Report,
    verdicts: Vec<Verdict>,
}

impl Stream {
    /// True when `format` can be written host by host.
    pub fn supports(format: OutputFormat) -> bool {
        matches!(format, OutputFormat::Table | OutputFormat::Jsonl | OutputFormat::Csv | OutputFormat::Timesketch)
    }

    /// `context` is a report without hosts or skipped files: what every host line carries.
    pub fn new(format: OutputFormat, color: bool, mut context: Report) -> Stream {
        assert!(Self::supports(format), "{format:?} is written whole");
        context.hosts.clear();
        context.skipped.clear();
        Stream { format, color, context, verdicts: Vec::new() }
    }

    /// Writes one host (and forgets it).
    pub fn host(&mut self, host: Host, out: &mut dyn Write) -> io::Result<()> {
        self.verdicts.push(host.verdict);
        let first = self.verdicts.len() == 1;
        let one = Report { hosts: vec![host], ..self.context.clone() };
        match self.format {
            OutputFormat::Table => crate::render::host_table_plain(&one.hosts[0], self.color, out),
            OutputFormat::Jsonl => crate::render::jsonl(&one, out),
            OutputFormat::Csv => crate::render::csv_part(&one, first, out),
            OutputFormat::Timesketch => crate::timesketch::write(&one, out),
            _ => unreachable!("checked in new"),
        }?;
        out.flush()
    }

    /// Writes what comes after the hosts (the files not read, the totals) and returns the run's
    /// exit code (1 when any host was compromised or attempted).
    pub fn finish(self, skipped: Vec<Skipped>, out: &mut dyn Write) -> io::Result<i32> {
        let code = self.exit_code();
        let tail = Report { skipped, ..self.context };
        match self.format {
            OutputFormat::Table => crate::render::table_tail(&tail, &self.verdicts, self.color, out)?,
            OutputFormat::Jsonl => crate::render::jsonl(&tail, out)?,
            OutputFormat::Csv if self.verdicts.is_empty() => crate::render::csv_part(&tail, true, out)?,
            _ => {}
        }
        out.flush()?;
        Ok(code)
    }

    /// 1 when any host written so far was compromised or attempted (ClamAV's convention).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.verdicts.iter().any(|v| matches!(v, Verdict::Compromised | Verdict::Attempted)))
    }

    pub fn hosts(&self) -> usize {
        self.verdicts.len()
    }
}
