//! Writes one sample evidence or a bulk corpus.
//!
//! ```text
//! cargo run -p taskforce-samples --example gen -- SCENARIO LAYOUT OUT [--zip] [--seed N] [--lines N] [--days N] [--host NAME]
//! cargo run -p taskforce-samples --release --example gen -- bulk OUT_DIR MEGABYTES [--seed N] [--dense]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use taskforce_samples::{BulkMix, SampleSpec, generate, generate_bulk_mix};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let seed: u64 = flag("--seed").map_or(Ok(1), |s| s.parse())?;
    let started = Instant::now();
    if args.first().map(String::as_str) == Some("bulk") {
        let out = PathBuf::from(&args[1]);
        let mb: u64 = args[2].parse()?;
        let mix = if args.iter().any(|a| a == "--dense") { BulkMix::Dense } else { BulkMix::Sparse };
        let s = generate_bulk_mix(&out, mb << 20, seed, mix)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{} files, {} bytes, {} attack lines in {secs:.2} s = {:.0} MB/s",
            s.files,
            s.bytes,
            s.attack_lines,
            s.bytes as f64 / 1e6 / secs
        );
        return Ok(());
    }
    if args.len() < 3 {
        return Err("usage: gen SCENARIO LAYOUT OUT [--zip] [--seed N] [--lines N] [--days N] [--host NAME]".into());
    }
    let mut spec = SampleSpec::new(args[0].parse()?, args[1].parse()?);
    spec.seed = seed;
    spec.zip = args.iter().any(|a| a == "--zip");
    if let Some(n) = flag("--lines") {
        spec.benign_lines_per_file = n.parse()?;
    }
    if let Some(n) = flag("--days") {
        spec.days = n.parse()?;
    }
    if let Some(h) = flag("--host") {
        spec.host = h;
    }
    let s = generate(&spec, &PathBuf::from(&args[2]))?;
    println!("{} files, {} bytes, {} attack lines", s.files, s.bytes, s.attack_lines);
    Ok(())
}
