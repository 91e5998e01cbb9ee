//! Lists as `.xlsx` workbooks, written in constant memory.
//!
//! An export is one worksheet: a header row whose cells name each column in
//! Chinese, then English, and one row per record, written in order.
//! `rust_xlsxwriter`'s constant-memory mode keeps only the row being
//! written: earlier rows go to a temporary file as they are finished, and
//! strings are written inline rather than into a shared-strings table that
//! would grow with the export. [`SheetWriter::finish`] assembles the
//! workbook into an unnamed temporary file (gone when the last handle is
//! dropped, even after a crash), hashing it with SM3 on the way, so the
//! caller can record what left the platform before sending a byte of it.
//!
//! Text is always written as text: a value beginning with `=` stays a
//! value, never a formula (no spreadsheet formula injection).
//!
//! ```
//! use civitas_export::{Cell, Column, SheetWriter};
//!
//! let mut sheet = SheetWriter::new(
//!     "办件 Cases",
//!     vec![Column::new("办件编号", "Case number", 24.0), Column::new("状态", "State", 10.0)],
//!     None,
//! )?;
//! sheet.row(vec![Cell::text("c-1"), Cell::text("办理中")])?;
//! let file = sheet.finish()?;
//! assert_eq!(file.rows, 1);
//! assert!(file.bytes > 0);
//! # Ok::<(), civitas_export::ExportError>(())
//! ```

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use rust_xlsxwriter::{Color, Format, FormatAlign, Workbook, XlsxError};

/// Data rows one worksheet holds: Excel's 1,048,576 rows less the header.
pub const MAX_ROWS: u32 = 1_048_575;

/// UTF-16 units one cell holds (Excel's limit); longer text is cut there
/// with a marker saying so.
pub const MAX_CELL_CHARS: usize = 32_767;

/// What went wrong writing an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// More rows than one worksheet holds: the caller should narrow the
    /// filter.
    #[error("an export holds at most {MAX_ROWS} rows")]
    TooManyRows,
    /// A row with a different number of cells than there are columns.
    #[error("a row has {found} cells where the export has {expected} columns")]
    RowWidth {
        /// Columns of the export.
        expected: usize,
        /// Cells of the row.
        found: usize,
    },
    /// The workbook could not be written (the temporary directory is
    /// full or unwritable, most likely).
    #[error("writing the workbook: {0}")]
    Write(#[from] XlsxError),
    /// The finished file could not be written or read back.
    #[error("the finished workbook: {0}")]
    Io(#[from] std::io::Error),
    /// The library's temporary files could not be written (it panics
    /// there; the panic is caught): the temporary directory is full or
    /// gone.
    #[error("writing the workbook's temporary files failed (is the disk full?)")]
    TempFiles,
}

/// One column: its header in both languages and its width in characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// 中文 header.
    pub zh: String,
    /// English header.
    pub en: String,
    /// Width in Excel's character units.
    pub width: f64,
}

impl Column {
    /// A column headed `zh` then `en`, `width` characters wide.
    pub fn new(zh: impl Into<String>, en: impl Into<String>, width: f64) -> Column {
        Column {
            zh: zh.into(),
            en: en.into(),
            width,
        }
    }

    /// The header cell's text: Chinese, then English on the next line.
    pub fn header(&self) -> String {
        format!("{}\n{}", self.zh, self.en)
    }
}

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text, written as text whatever it looks like.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction, shown to two decimals (a rate, an
    /// average); not a number (a division by zero) is left empty.
    Decimal(f64),
    /// A calendar date (shown `yyyy-mm-dd`).
    Date(NaiveDate),
    /// An instant, shown in China Standard Time (`yyyy-mm-dd hh:mm:ss`).
    Time(DateTime<Utc>),
    /// Yes or no, shown `是` / `否`.
    Flag(bool),
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// A text cell, or an empty one for none.
    pub fn optional(text: Option<impl Into<String>>) -> Cell {
        text.map_or(Cell::Empty, |t| Cell::Text(t.into()))
    }

    /// A date cell, or an empty one for none.
    pub fn optional_date(date: Option<NaiveDate>) -> Cell {
        date.map_or(Cell::Empty, Cell::Date)
    }
}

/// A finished export: an unnamed temporary file, at its start.
#[derive(Debug)]
pub struct Exported {
    /// The workbook, positioned at its first byte; deleted when dropped.
    pub file: File,
    /// Its size.
    pub bytes: u64,
    /// Its SM3 digest.
    pub sm3: [u8; 32],
    /// Data rows written (the header not counted).
    pub rows: u32,
}

/// Writes one worksheet row by row; see the crate's documentation.
pub struct SheetWriter {
    workbook: Workbook,
    columns: usize,
    rows: u32,
    tempdir: Option<PathBuf>,
    date: Format,
    time: Format,
    decimal: Format,
}

/// Days from the start of the common era to 1899-12-30, Excel's day 0.
const EXCEL_EPOCH_FROM_CE: i32 = 693_594;

/// Excel's day number of `date` (days since 1899-12-30, the epoch that
/// absorbs the 1900 leap-year error for every date after February 1900).
fn excel_day(date: NaiveDate) -> f64 {
    f64::from(date.num_days_from_ce() - EXCEL_EPOCH_FROM_CE)
}

/// `at` as Excel's serial date-time in China Standard Time (UTC+8, no
/// daylight saving).
fn excel_time(at: DateTime<Utc>) -> f64 {
    let local = at.naive_utc() + TimeDelta::hours(8);
    excel_day(local.date()) + f64::from(local.time().num_seconds_from_midnight()) / 86_400.0
}

impl SheetWriter {
    /// A workbook of one worksheet named `sheet` (cut to Excel's 31
    /// characters; characters Excel forbids in a name replaced) with a
    /// header row of `columns`, frozen and filterable. Temporary files go to
    /// `tempdir` (default: the system's).
    pub fn new(
        sheet: &str,
        columns: Vec<Column>,
        tempdir: Option<&Path>,
    ) -> Result<SheetWriter, ExportError> {
        let mut workbook = Workbook::new();
        if let Some(dir) = tempdir {
            workbook.set_tempdir(dir)?;
        }
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Top)
            .set_background_color(Color::RGB(0xDDE7F3));
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        let worksheet = workbook.add_worksheet_with_constant_memory()?;
        worksheet.set_name(sheet_name(sheet))?;
        for (index, column) in columns.iter().enumerate() {
            let index = column_number(index)?;
            worksheet.set_column_width(index, column.width)?;
            worksheet.write_string_with_format(0, index, column.header(), &header)?;
        }
        worksheet.set_row_height(0, 30)?;
        worksheet.set_freeze_panes(1, 0)?;
        if let Some(last) = columns.len().checked_sub(1) {
            worksheet.autofilter(0, 0, 0, column_number(last)?)?;
        }
        Ok(SheetWriter {
            workbook,
            columns: columns.len(),
            rows: 0,
            tempdir: tempdir.map(Path::to_path_buf),
            date,
            time,
            decimal: Format::new().set_num_format("0.00"),
        })
    }

    /// Data rows written so far.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Appends one row, a cell per column.
    pub fn row(&mut self, cells: Vec<Cell>) -> Result<(), ExportError> {
        if cells.len() != self.columns {
            return Err(ExportError::RowWidth {
                expected: self.columns,
                found: cells.len(),
            });
        }
        if self.rows >= MAX_ROWS {
            return Err(ExportError::TooManyRows);
        }
        let row = self.rows + 1;
        let (date, time, decimal) = (&self.date, &self.time, &self.decimal);
        let worksheet = self.workbook.worksheet_from_index(0)?;
        guarded(|| {
            for (index, cell) in cells.into_iter().enumerate() {
                let column = column_number(index)?;
                match cell {
                    Cell::Empty => {}
                    Cell::Text(text) => {
                        worksheet.write_string(row, column, fit(text))?;
                    }
                    // Excel's numbers are doubles: beyond 2^53 a whole
                    // number would change, so it is written as its digits.
                    Cell::Integer(n) if n.unsigned_abs() > (1 << 53) => {
                        worksheet.write_string(row, column, n.to_string())?;
                    }
                    Cell::Integer(n) => {
                        worksheet.write_number(row, column, n as f64)?;
                    }
                    Cell::Decimal(x) if !x.is_finite() => {}
                    Cell::Decimal(x) => {
                        worksheet.write_number_with_format(row, column, x, decimal)?;
                    }
                    Cell::Date(day) => {
                        worksheet.write_number_with_format(row, column, excel_day(day), date)?;
                    }
                    Cell::Time(at) => {
                        worksheet.write_number_with_format(row, column, excel_time(at), time)?;
                    }
                    Cell::Flag(yes) => {
                        worksheet.write_string(row, column, if yes { "是" } else { "否" })?;
                    }
                }
            }
            Ok(())
        })?;
        self.rows = row;
        Ok(())
    }

    /// Finishes the workbook into an unnamed temporary file and hashes it.
    /// CPU work proportional to the export (compression): run it off an
    /// async runtime's threads.
    pub fn finish(mut self) -> Result<Exported, ExportError> {
        let file = match &self.tempdir {
            Some(dir) => tempfile::tempfile_in(dir)?,
            None => tempfile::tempfile()?,
        };
        let mut hashing = Hashing {
            file,
            hasher: civitas_crypto::sm3::Hasher::new(),
            bytes: 0,
        };
        let workbook = &mut self.workbook;
        guarded(|| workbook.save_to_writer(&mut hashing))?;
        hashing.file.flush()?;
        let Hashing {
            mut file,
            hasher,
            bytes,
        } = hashing;
        file.seek(SeekFrom::Start(0))?;
        Ok(Exported {
            file,
            bytes,
            sm3: hasher.finalize(),
            rows: self.rows,
        })
    }
}

/// A column index as Excel numbers them (at most 16,384 columns).
fn column_number(index: usize) -> Result<u16, XlsxError> {
    u16::try_from(index)
        .ok()
        .filter(|n| *n < 16_384)
        .ok_or(XlsxError::RowColumnLimitError)
}

/// `name` as Excel allows a worksheet's name: at most 31 characters, none
/// of `[]:*?/\`, not empty.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    if cleaned.trim().is_empty() {
        "Sheet1".to_owned()
    } else {
        cleaned
    }
}

/// `text` cut to what a cell holds, saying it was cut. Excel counts a
/// cell's length in UTF-16 units: a character beyond the Basic
/// Multilingual Plane (an emoji, a rare CJK Extension B character) is two.
fn fit(text: String) -> String {
    // Bytes ≥ UTF-16 units for any text: short enough whatever it holds.
    if text.len() <= MAX_CELL_CHARS || text.encode_utf16().count() <= MAX_CELL_CHARS {
        return text;
    }
    const MARK: &str = "…（已截断 / truncated）";
    let room = MAX_CELL_CHARS - MARK.encode_utf16().count();
    let mut cut = String::new();
    let mut units = 0;
    for c in text.chars() {
        units += c.len_utf16();
        if units > room {
            break;
        }
        cut.push(c);
    }
    cut.push_str(MARK);
    cut
}

/// Runs a write of `rust_xlsxwriter`, which panics where writing its own
/// temporary files fails (a full disk): that becomes an error, not a
/// panic of the server's thread.
fn guarded<T>(write: impl FnOnce() -> Result<T, XlsxError>) -> Result<T, ExportError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(write)) {
        Ok(result) => Ok(result?),
        Err(_) => Err(ExportError::TempFiles),
    }
}

/// Writes to the file and hashes what it writes.
struct Hashing {
    file: File,
    hasher: civitas_crypto::sm3::Hasher,
    bytes: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excel_days_count_from_the_end_of_1899() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
        assert_eq!(excel_day(day(1900, 3, 1)), 61.0);
        assert_eq!(excel_day(day(2026, 12, 6)), 46362.0);
    }

    #[test]
    fn instants_are_shown_in_china_standard_time() {
        let midnight_in_beijing = DateTime::parse_from_rfc3339("2026-12-06T16:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(excel_time(midnight_in_beijing), 46363.0);
        let noon = DateTime::parse_from_rfc3339("2026-12-06T04:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(excel_time(noon), 46362.5);
    }

    #[test]
    fn sheet_names_are_what_excel_accepts() {
        assert_eq!(sheet_name("办件 / Cases"), "办件 _ Cases");
        assert_eq!(sheet_name(""), "Sheet1");
        assert_eq!(sheet_name(&"长".repeat(40)).chars().count(), 31);
    }

    #[test]
    fn text_longer_than_a_cell_is_cut_and_says_so() {
        let long = "字".repeat(MAX_CELL_CHARS + 10);
        let cut = fit(long);
        assert_eq!(cut.chars().count(), MAX_CELL_CHARS);
        assert!(cut.ends_with("truncated）"));
        assert_eq!(fit("短".to_owned()), "短");
    }

    #[test]
    fn characters_beyond_the_basic_plane_count_twice() {
        // 20,000 emoji are 40,000 UTF-16 units: more than a cell holds.
        let cut = fit("😀".repeat(20_000));
        assert!(cut.encode_utf16().count() <= MAX_CELL_CHARS);
        assert!(cut.ends_with("truncated）"));
        let fits = "😀".repeat(MAX_CELL_CHARS / 2);
        assert_eq!(fit(fits.clone()), fits);
    }
}
