//! `civitas calendar` as an operator uses it: deadlines counted on the
//! official 2025 and 2026 holiday notices, exit codes a script can test,
//! `--json`, and a tenant's local non-working days.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

/// `civitas calendar ARGS…` run in `dir` (which holds `tenants/`).
fn calendar(dir: &Path, args: &[&str]) -> Output {
    civitas_testkit::clean_command(CIVITAS, dir)
        .arg("calendar")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run civitas calendar: {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// A directory with the repository's tenants/, where Pudong keeps
/// 2026-03-02 as a local non-working day.
fn workdir() -> tempfile::TempDir {
    let dir = civitas_testkit::tenants_copy();
    let tenants = dir.path().join("tenants");
    let pudong = tenants.join("shanghai/310115-pudong.toml");
    let text = std::fs::read_to_string(&pudong).unwrap_or_else(|e| panic!("{e}"));
    let text = if text.contains("[settings]") {
        text.replacen(
            "[settings]",
            "[settings]\n\"calendar.non-working-days\" = [\"2026-03-02\"]",
            1,
        )
    } else {
        format!("{text}\n[settings]\n\"calendar.non-working-days\" = [\"2026-03-02\"]\n")
    };
    std::fs::write(&pudong, text).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn add_working_days_counts_across_national_day_and_its_worked_saturday() {
    let dir = workdir();
    // 2025: 10-01…10-08 off, Saturday 10-11 worked (国办发明电〔2024〕12号).
    let due = calendar(dir.path(), &["add-working-days", "2025-09-30", "5"]);
    assert_eq!(due.status.code(), Some(0), "{due:?}");
    assert_eq!(stdout(&due), "2025-10-14");
    let due = calendar(
        dir.path(),
        &["add-working-days", "2026-02-13", "1", "--json"],
    );
    assert_eq!(due.status.code(), Some(0), "{due:?}");
    // 2026: Saturday 02-14 is worked before the Spring Festival.
    assert_eq!(
        json_of(&due),
        json!({"date": "2026-02-13", "working_days": 1, "result": "2026-02-14"})
    );
}

#[test]
fn is_working_day_exits_zero_or_one_and_names_the_holiday() {
    let dir = workdir();
    let worked_saturday = calendar(dir.path(), &["is-working-day", "2025-10-11"]);
    assert_eq!(
        worked_saturday.status.code(),
        Some(0),
        "{worked_saturday:?}"
    );
    let national_day = calendar(dir.path(), &["is-working-day", "2025-10-03"]);
    assert_eq!(national_day.status.code(), Some(1), "{national_day:?}");
    assert!(
        stdout(&national_day).contains("国庆"),
        "{}",
        stdout(&national_day)
    );

    let spring = calendar(dir.path(), &["is-working-day", "2026-02-17", "--json"]);
    assert_eq!(spring.status.code(), Some(1), "{spring:?}");
    let answer = json_of(&spring);
    assert_eq!(answer["working_day"], false);
    assert!(
        answer["holiday"]["zh"]
            .as_str()
            .is_some_and(|n| n.contains("春节")),
        "{answer}"
    );
    let ordinary = json_of(&calendar(
        dir.path(),
        &["is-working-day", "2026-03-03", "--json"],
    ));
    assert_eq!(
        ordinary,
        json!({"date": "2026-03-03", "working_day": true, "holiday": null})
    );
}

#[test]
fn a_tenant_counts_its_local_non_working_days_and_its_subtree_inherits_them() {
    let dir = workdir();
    let city = calendar(dir.path(), &["is-working-day", "2026-03-02"]);
    assert_eq!(city.status.code(), Some(0), "a Monday for the city");
    for tenant in ["shanghai/pudong", "shanghai/pudong/lujiazui"] {
        let local = calendar(
            dir.path(),
            &["is-working-day", "2026-03-02", "--tenant", tenant],
        );
        assert_eq!(local.status.code(), Some(1), "{tenant}: {local:?}");
    }
    let due = calendar(
        dir.path(),
        &[
            "add-working-days",
            "2026-02-28",
            "1",
            "--tenant",
            "shanghai/pudong",
        ],
    );
    assert_eq!(stdout(&due), "2026-03-03", "Pudong skips its local day");
    let unknown = calendar(
        dir.path(),
        &[
            "is-working-day",
            "2026-03-02",
            "--tenant",
            "shanghai/nowhere",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
}

#[test]
fn bad_input_exits_two_and_dates_beyond_the_notices_exit_three() {
    let dir = workdir();
    for args in [
        &["is-working-day", "2025-13-01"][..],
        &["add-working-days", "yesterday", "3"][..],
    ] {
        let bad = calendar(dir.path(), args);
        assert_eq!(bad.status.code(), Some(2), "{args:?}: {bad:?}");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("错误"),
            "{args:?}: a message in Chinese first: {bad:?}"
        );
    }
    let uncovered = calendar(dir.path(), &["is-working-day", "2031-05-01"]);
    assert_eq!(uncovered.status.code(), Some(3), "{uncovered:?}");
    let beyond = calendar(dir.path(), &["add-working-days", "2027-12-20", "30"]);
    assert_eq!(beyond.status.code(), Some(3), "{beyond:?}");
}

#[test]
fn show_lists_every_covered_year_and_says_which_are_provisional() {
    let dir = workdir();
    let shown = calendar(dir.path(), &["show", "--json"]);
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let years = json_of(&shown);
    let listed: Vec<i64> = years
        .as_array()
        .map(|a| a.iter().filter_map(|y| y["year"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(listed, vec![2025, 2026, 2027]);
    assert_eq!(years[0]["status"], "official");
    assert_eq!(years[2]["status"], "statutory");
    let help = civitas_testkit::clean_command(CIVITAS, dir.path())
        .args(["calendar", "add-working-days", "--help"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
}
