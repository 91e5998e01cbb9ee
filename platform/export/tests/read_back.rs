//! What an export writes is what a spreadsheet reads back.

use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};
use civitas_export::{Cell, Column, ExportError, SheetWriter};
use civitas_sheet::{Cell as Read_, Format, read};

fn columns() -> Vec<Column> {
    vec![
        Column::new("办件编号", "Case number", 20.0),
        Column::new("申请人", "Applicant", 12.0),
        Column::new("受理日期", "Filed on", 12.0),
        Column::new("受理时间", "Filed at", 18.0),
        Column::new("件数", "Count", 8.0),
        Column::new("逾期", "Overdue", 6.0),
    ]
}

fn contents(mut exported: civitas_export::Exported) -> Vec<u8> {
    let mut bytes = Vec::new();
    exported.file.read_to_end(&mut bytes).unwrap_or_default();
    bytes
}

#[test]
fn rows_read_back_as_written_under_a_bilingual_header() -> Result<(), ExportError> {
    let mut sheet = SheetWriter::new("办件 Cases", columns(), None)?;
    let filed = DateTime::parse_from_rfc3339("2026-12-06T02:30:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    sheet.row(vec![
        Cell::text("case-1"),
        Cell::text("张**"),
        Cell::Date(NaiveDate::from_ymd_opt(2026, 12, 6).unwrap_or_default()),
        Cell::Time(filed),
        Cell::Integer(42),
        Cell::Flag(true),
    ])?;
    // A value that looks like a formula stays a value.
    sheet.row(vec![
        Cell::text("=1+1"),
        Cell::Empty,
        Cell::optional_date(None),
        Cell::Empty,
        Cell::Integer(9_007_199_254_740_993),
        Cell::Flag(false),
    ])?;
    let exported = sheet.finish()?;
    assert_eq!(exported.rows, 2);
    let digest = exported.sm3;
    let bytes = contents(exported);
    assert_eq!(
        civitas_crypto::sm3::digest(&bytes),
        digest,
        "the digest is the file's"
    );
    let rows = read(&bytes, Format::Xlsx, 10).unwrap_or_default();
    assert_eq!(rows.len(), 3);
    let text = |row: usize| -> Vec<String> {
        rows[row]
            .cells
            .iter()
            .map(|c| c.text().to_owned())
            .collect()
    };
    assert_eq!(
        text(0),
        [
            "办件编号\nCase number",
            "申请人\nApplicant",
            "受理日期\nFiled on",
            "受理时间\nFiled at",
            "件数\nCount",
            "逾期\nOverdue"
        ]
    );
    assert_eq!(
        text(1),
        ["case-1", "张**", "2026-12-06", "2026-12-06", "42", "是"]
    );
    assert_eq!(rows[1].cells[2], Read_::Date("2026-12-06".to_owned()));
    assert_eq!(text(2), ["=1+1", "", "", "", "9007199254740993", "否"]);
    Ok(())
}

#[test]
fn a_row_of_the_wrong_width_is_refused() -> Result<(), ExportError> {
    let mut sheet = SheetWriter::new("x", columns(), None)?;
    let refused = sheet.row(vec![Cell::text("only one")]);
    assert!(matches!(
        refused,
        Err(ExportError::RowWidth {
            expected: 6,
            found: 1
        })
    ));
    assert_eq!(sheet.rows(), 0);
    Ok(())
}

#[test]
fn an_empty_export_is_a_header_alone() -> Result<(), ExportError> {
    let sheet = SheetWriter::new("空 Empty", columns(), None)?;
    let bytes = contents(sheet.finish()?);
    let rows = read(&bytes, Format::Xlsx, 10).unwrap_or_default();
    assert_eq!(rows.len(), 1);
    Ok(())
}

#[test]
fn text_of_any_length_is_written_cut_to_a_cell() -> Result<(), ExportError> {
    let mut sheet = SheetWriter::new("长 Long", vec![Column::new("内容", "Text", 40.0)], None)?;
    sheet.row(vec![Cell::text("😀".repeat(30_000))])?;
    sheet.row(vec![Cell::text("字".repeat(40_000))])?;
    let exported = sheet.finish()?;
    assert_eq!(exported.rows, 2);
    Ok(())
}
