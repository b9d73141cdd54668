//! AFL++ entry point: `taskforce-fuzz-afl TARGET` reads inputs from AFL and runs that target
//! (see scripts/fuzz-afl.sh). Built only with `cargo afl build --features afl`.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = taskforce_fuzz::target(&name) else {
        let names: Vec<&str> = taskforce_fuzz::TARGETS.iter().map(|t| t.name).collect();
        eprintln!("usage: taskforce-fuzz-afl TARGET (one of: {})", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        let data = &data[..data.len().min(target.max_len)];
        match target.fixup {
            // AFL's edits would break the EVTX CRC32s on nearly every input; repair them, so
            // coverage grows behind the checks (the seeded runs fix up half of their inputs).
            Some(fixup) => {
                let mut repaired = data.to_vec();
                fixup(&mut repaired);
                (target.run)(&repaired)
            }
            None => (target.run)(data),
        }
    });
}
