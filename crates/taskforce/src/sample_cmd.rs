//! `taskforce sample` (hidden): writes synthetic evidence with the project's own generator.

use anyhow::{Context, Result};
use taskforce_samples::{BulkMix, Layout, SampleSpec, Scenario};

use crate::cli::{self, SampleArgs};

pub fn run(args: SampleArgs) -> Result<u8> {
    let summary = if let Some(mb) = args.bulk {
        let mix = if args.dense { BulkMix::Dense } else { BulkMix::Sparse };
        taskforce_samples::generate_bulk_mix(&args.out, mb * 1_000_000, args.seed, mix)
    } else {
        let spec = SampleSpec {
            scenario: match args.scenario {
                cli::Scenario::Compromised => Scenario::Compromised,
                cli::Scenario::Attempted => Scenario::Attempted,
                cli::Scenario::Clean => Scenario::Clean,
                cli::Scenario::Inconclusive => Scenario::Inconclusive,
            },
            layout: match args.layout {
                cli::Layout::Exchange => Layout::ExchangeTree,
                cli::Layout::Kape => Layout::Kape,
                cli::Layout::Velociraptor => Layout::Velociraptor,
                cli::Layout::Loose => Layout::Loose,
            },
            host: args.host,
            seed: args.seed,
            benign_lines_per_file: args.lines,
            days: args.days,
            zip: args.zip,
        };
        taskforce_samples::generate(&spec, &args.out)
    }
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "taskforce: wrote {} file(s), {:.1} MB, {} attack line(s) to {}",
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.attack_lines,
        args.out.display()
    );
    Ok(0)
}
