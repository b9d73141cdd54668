// Rebuild when a built-in Sigma rule is added or removed (include_dir tracks contents only).
fn main() {
    println!("cargo:rerun-if-changed=../../rules/sigma");
}
