//! `civitas lottery verify` as anyone holding a published lottery uses it:
//! the record is recomputed from its published text alone — here against
//! a draw computed in this file with nothing but SM3 — with exit codes a
//! script can test.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const VALUE: &str = "3412.56";

/// A lottery record drawn by the published rule, by hand: seed = SM3 of
/// the text followed by the public value, ticket = SM3(seed ‖ case id),
/// score descending then ticket ascending, the first `units` drawn.
fn record() -> Value {
    let entries = [
        ("c-01", 30),
        ("c-02", 21),
        ("c-03", 21),
        ("c-04", 21),
        ("c-05", 10),
    ];
    let published = json!({
        "format": "civitas-lottery/1", "title": "2026年第四季度一室一厅摇号", "tenant": "310000/310115",
        "service": "housing/talent-apartment", "project": "张江国际社区人才公寓", "unit_type": "one-bedroom",
        "units": 2, "published_on": "2026-12-06", "draw_on": "2026-12-08", "public_value": "上证指数 2026-12-08 收盘价", "value_decimals": 2,
        "entries": entries.iter().map(|(id, score)| json!({"case_id": id, "score": score, "score_at_submission": score})).collect::<Vec<_>>(),
    })
    .to_string();
    let seed = civitas_crypto::sm3::digest(format!("{published}{VALUE}").as_bytes());
    let mut ranked: Vec<(u32, String, &str)> = entries
        .iter()
        .map(|(id, score)| {
            let mut joined = seed.to_vec();
            joined.extend_from_slice(id.as_bytes());
            (*score, hex(&civitas_crypto::sm3::digest(&joined)), *id)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let ranking: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(i, (score, ticket, id))| {
            json!({"position": i + 1, "case_id": id, "score": score, "ticket": ticket, "drawn": i < 2})
        })
        .collect();
    json!({"id": "lottery-1", "tenant": "310000/310115", "state": "drawn", "published": published,
           "published_sm3": hex(&civitas_crypto::sm3::digest(published.as_bytes())),
           "published_at": "2026-12-06T02:00:00Z", "value": VALUE, "seed": hex(&seed),
           "ranking": ranking, "drawn_at": "2026-12-08T08:00:00Z"})
}

fn verify(dir: &Path, record: &Value) -> (Output, Value) {
    let file = dir.join("lottery.json");
    std::fs::write(&file, record.to_string()).unwrap();
    let output = civitas_testkit::clean_command(CIVITAS, dir)
        .args(["lottery", "verify", "lottery.json", "--json"])
        .output()
        .unwrap();
    let answer = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, answer)
}

#[test]
fn a_published_lottery_verifies_and_any_change_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (output, answer) = verify(dir.path(), &record());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{answer} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(answer["identical"], true);

    // Two places swapped in the recorded ranking: exit 1, from where.
    let mut swapped = record();
    let ranking = swapped["ranking"].as_array_mut().unwrap();
    let (second, third) = (ranking[1]["case_id"].clone(), ranking[2]["case_id"].clone());
    ranking[1]["case_id"] = third;
    ranking[2]["case_id"] = second;
    let (output, answer) = verify(dir.path(), &swapped);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        (
            answer["seed_matches"].clone(),
            answer["first_difference"].clone()
        ),
        (json!(true), json!(2))
    );

    // A score changed in the published text after the draw: neither its
    // recorded SM3 nor the seed holds.
    let mut rescored = record();
    let text = rescored["published"]
        .as_str()
        .unwrap()
        .replace("\"score\":10", "\"score\":40");
    rescored["published"] = json!(text);
    let (output, answer) = verify(dir.path(), &rescored);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        (
            answer["published_matches"].clone(),
            answer["seed_matches"].clone()
        ),
        (json!(false), json!(false))
    );

    // Another public value than the one announced: the seed does not hold.
    let mut revalued = record();
    revalued["value"] = json!("3412.57");
    let (output, answer) = verify(dir.path(), &revalued);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        (
            answer["published_matches"].clone(),
            answer["seed_matches"].clone()
        ),
        (json!(true), json!(false))
    );
}

#[test]
fn a_record_that_says_drawn_but_holds_no_draw_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut forged = record();
    forged["value"] = Value::Null;
    let (output, _) = verify(dir.path(), &forged);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not match what it holds"));
}

#[test]
fn a_lottery_published_and_not_drawn_yet_checks_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut waiting = record();
    for field in ["value", "seed", "drawn_at"] {
        waiting[field] = Value::Null;
    }
    waiting["state"] = json!("published");
    waiting["ranking"] = json!([]);
    let (output, answer) = verify(dir.path(), &waiting);
    assert_eq!(output.status.code(), Some(0), "{answer}");
    assert_eq!(
        (answer["state"].clone(), answer["seed_matches"].clone()),
        (json!("published"), Value::Null)
    );
}

#[test]
fn a_record_from_standard_input_reads_and_one_that_is_not_a_lottery_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = civitas_testkit::clean_command(CIVITAS, dir.path())
        .args(["lottery", "verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(record().to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("一致 (identical)"));

    let (output, _) = verify(dir.path(), &json!({"not": "a lottery"}));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a lottery record"));
}
