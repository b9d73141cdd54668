// Rebuild when a rule file is added or removed (include_dir tracks the contents of files that
// existed at the last build, not new ones).
fn main() {
    println!("cargo:rerun-if-changed=../../rules/hunt");
    for entry in walk("../../rules/hunt") {
        println!("cargo:rerun-if-changed={entry}");
    }
}

fn walk(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.push(path.display().to_string());
                out.extend(walk(&path.display().to_string()));
            }
        }
    }
    out
}
