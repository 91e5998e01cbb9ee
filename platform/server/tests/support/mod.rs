//! Helpers shared by the test files that drive the `civitas` binary; each
//! file uses some of them.
#![allow(dead_code)]

pub mod pages;
pub mod server;

/// Whether `python3` can import `module` (a test tool that
/// `infra/dev/setup` installs with `pip install {pip}`). Without it a test
/// is skipped outside CI and fails under `CI=true`.
pub fn python_has(module: &str, pip: &str) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs python3 with {module} (infra/dev/setup: pip install {pip})"
        );
        eprintln!("skipped: pip install {pip}");
    }
    available
}
