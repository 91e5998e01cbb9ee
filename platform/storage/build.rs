//! sqlx::migrate! embeds the migration files; rebuild when one is added or
//! changed, not only when Rust source changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
