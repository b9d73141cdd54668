// Rebuild when a built-in rule file is added, removed or changed (`include_dir!` tracks only the
// files that existed at the last build).
fn main() {
    for dir in ["../../rules/files", "../../rules/files/yara", "../../rules/files/iocs"] {
        println!("cargo:rerun-if-changed={dir}");
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                println!("cargo:rerun-if-changed={}", entry.path().display());
            }
        }
    }
}
