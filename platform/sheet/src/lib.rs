//! Reads the first sheet of an `.xlsx` workbook or a `.csv` file as rows
//! of cells — what a bureau's staff keep their rosters and monitoring data
//! in. Every row keeps the number the spreadsheet shows for it, so whoever
//! checks the rows can say "row 17: …"; blank rows are skipped but counted.
//! Cells are text (a number cell holding an employee or phone number reads
//! as its digits, without Excel's `.0`), or a date for a workbook's date
//! cells. What the columns mean is for the caller (civitas-roster for a
//! staff roster, civitas-wage-warnings for project monitoring data).
//!
//! ```
//! let csv = "项目编号,月份\nPD-1,2026-11\n\nPD-2,2026-11\n";
//! let rows = civitas_sheet::read(csv.as_bytes(), civitas_sheet::Format::Csv, 100).unwrap();
//! assert_eq!(rows.len(), 3);
//! assert_eq!(rows[2].row, 4);
//! assert_eq!(rows[2].cells[0].text(), "PD-2");
//! ```

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// Columns past this many are not read.
pub const MAX_COLUMNS: u32 = 64;

/// The most bytes an `.xlsx` may unpack to: a guard against archives built
/// to exhaust memory (10,000 rows of a dozen columns unpack to a few MiB).
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;

/// The file formats a sheet comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values, UTF-8 (with or without a byte-order mark)
    /// or GB 18030/GBK, as Excel on a Chinese Windows saves them.
    Csv,
    /// An Excel workbook (Office Open XML); the first sheet is read.
    Xlsx,
}

impl Format {
    /// The MIME type of an `.xlsx` file.
    pub const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

    /// The format a `Content-Type` names (parameters such as `charset`
    /// ignored); `application/octet-stream` and `application/vnd.ms-excel`
    /// (what browsers on Windows send for a `.csv`) are told by the bytes.
    pub fn from_content_type(content_type: &str, bytes: &[u8]) -> Option<Format> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/csv" => Some(Format::Csv),
            Format::XLSX_MIME => Some(Format::Xlsx),
            "application/octet-stream" | "application/vnd.ms-excel" => Format::sniff(bytes),
            _ => None,
        }
    }

    /// The format the bytes look like: a ZIP archive is a workbook, an old
    /// binary `.xls` (an OLE compound file) is none this reads, anything
    /// else is taken for CSV.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x03\x04") {
            Some(Format::Xlsx)
        } else if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
            None
        } else {
            Some(Format::Csv)
        }
    }

    /// The format a file name's extension names.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".xlsx") {
            Some(Format::Xlsx)
        } else if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else {
            None
        }
    }

    /// The MIME type to send the format as.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Xlsx => Format::XLSX_MIME,
        }
    }
}

/// What is wrong with one row of a sheet (or with the file, row 0), in
/// both languages: what an import names for every bad row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowProblem {
    /// The row as the spreadsheet numbers it.
    pub row: u32,
    /// The column, by its header name (`工号`), when one cell is at fault.
    pub column: Option<&'static str>,
    /// What is wrong, in Chinese.
    pub message_zh: String,
    /// What is wrong, in English.
    pub message_en: String,
}

/// The rows `problems` name, each once, in order.
pub fn bad_rows(problems: &[RowProblem]) -> Vec<u32> {
    let mut rows: Vec<u32> = problems.iter().map(|p| p.row).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Why a file cannot be read as a sheet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    /// The bytes are not a readable workbook.
    #[error("无法读取 Excel 文件：{0} / The file is not a readable .xlsx workbook: {0}")]
    NotXlsx(String),
    /// The workbook unpacks to more than [`MAX_UNPACKED_BYTES`].
    #[error(
        "Excel 文件解压后超过 {} MiB / The workbook unpacks to more than {} MiB",
        MAX_UNPACKED_BYTES >> 20,
        MAX_UNPACKED_BYTES >> 20
    )]
    TooLarge,
    /// The CSV is malformed at a line.
    #[error("CSV 第 {line} 行格式错误：{message} / The CSV is malformed at line {line}: {message}")]
    NotCsv {
        /// The line.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// The workbook has no sheet.
    #[error("Excel 文件中没有工作表 / The workbook has no sheet")]
    NoSheet,
    /// More rows than the caller allows.
    #[error(
        "文件行数超过上限，请分批导入 / The file has more rows than allowed; import it in parts"
    )]
    TooManyRows,
}

/// A cell as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text, trimmed; a number as its digits (no `.0` on whole numbers);
    /// empty when the cell is.
    Text(String),
    /// A date cell of a workbook, `YYYY-MM-DD` (the time of day dropped).
    Date(String),
    /// A value that is neither: an Excel error (`#N/A`), a duration.
    Unreadable,
}

impl Cell {
    /// The cell's text: a date as `YYYY-MM-DD`, nothing for an unreadable
    /// cell.
    pub fn text(&self) -> &str {
        match self {
            Cell::Text(t) | Cell::Date(t) => t,
            Cell::Unreadable => "",
        }
    }

    /// Whether the cell holds nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Text(t) if t.is_empty())
    }
}

/// A row of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The number the spreadsheet shows for it (1-based); for CSV, the line
    /// the record starts on.
    pub row: u32,
    /// Its cells, left to right.
    pub cells: Vec<Cell>,
}

/// The rows of a file: the spreadsheet's row number and the cells.
type RawRows = Vec<(u32, Vec<Cell>)>;

/// Reads the rows of `bytes` in `format` that hold anything (blank rows
/// skipped, their numbers still counted), refusing more than `max_rows`.
pub fn read(bytes: &[u8], format: Format, max_rows: usize) -> Result<Vec<Row>, SheetError> {
    let rows = match format {
        Format::Csv => csv_rows(bytes, max_rows)?,
        Format::Xlsx => xlsx_rows(bytes, max_rows)?,
    };
    Ok(rows
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
        .map(|(row, cells)| Row { row, cells })
        .collect())
}

fn csv_rows(bytes: &[u8], max_rows: usize) -> Result<RawRows, SheetError> {
    let text = decode(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // The csv reader does not count the blank lines it skips; the line a
    // user sees in an editor or in Excel is told by the byte offset.
    // A line ends at `\n`, or at a lone `\r` (old Mac Excel saves those).
    let raw = text.as_bytes();
    let newlines: Vec<u64> = raw
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && raw.get(i + 1) != Some(&b'\n')))
        .map(|(i, _)| i as u64)
        .collect();
    // A record's position may point at the blank lines before it.
    let bytes = text.as_bytes();
    let line_at = |position: Option<&csv::Position>| {
        position.map_or(0, |p| {
            let mut at = usize::try_from(p.byte()).unwrap_or(bytes.len());
            while matches!(bytes.get(at), Some(b'\n' | b'\r')) {
                at += 1;
            }
            newlines.partition_point(|&n| n < at as u64) as u64 + 1
        })
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| SheetError::NotCsv {
            line: line_at(e.position()),
            message: e.to_string(),
        })?;
        let row = u32::try_from(line_at(record.position())).map_err(|_| SheetError::TooManyRows)?;
        rows.push((
            row,
            record
                .iter()
                .map(|c| Cell::Text(c.trim().to_owned()))
                .collect(),
        ));
        if rows.len() > max_rows.saturating_add(1) {
            return Err(SheetError::TooManyRows);
        }
    }
    Ok(rows)
}

/// UTF-8 (a byte-order mark dropped), else GB 18030 — which Excel on a
/// Chinese Windows writes when it saves "CSV (逗号分隔)".
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GB18030.decode(bytes).0.into_owned(),
    }
}

fn xlsx_rows(bytes: &[u8], max_rows: usize) -> Result<RawRows, SheetError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| SheetError::NotXlsx(e.to_string()))?;
    let mut unpacked = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| SheetError::NotXlsx(e.to_string()))?;
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > MAX_UNPACKED_BYTES {
        return Err(SheetError::TooLarge);
    }
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| SheetError::NotXlsx(e.to_string()))?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or(SheetError::NoSheet)?;
    // Cell by cell, not calamine's dense range: a sheet with one cell in A1
    // and one in XFD1048576 would otherwise ask for billions of cells.
    let mut reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| SheetError::NotXlsx(e.to_string()))?;
    let mut rows: std::collections::BTreeMap<u32, Vec<Cell>> = std::collections::BTreeMap::new();
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| SheetError::NotXlsx(e.to_string()))?
    {
        let (row, column) = cell.get_position();
        let data: Data = cell.get_value().clone().into();
        if data == Data::Empty || column >= MAX_COLUMNS {
            continue;
        }
        // Only rows with something in them count against the limit.
        if !rows.contains_key(&row) && rows.len() > max_rows {
            return Err(SheetError::TooManyRows);
        }
        let cells = rows.entry(row).or_default();
        let column = column as usize;
        if cells.len() <= column {
            cells.resize_with(column + 1, || Cell::Text(String::new()));
        }
        cells[column] = xlsx_cell(&data);
    }
    // Row numbers as Excel shows them: 1-based.
    Ok(rows
        .into_iter()
        .map(|(row, cells)| (row.saturating_add(1), cells))
        .collect())
}

fn xlsx_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Text(String::new()),
        Data::String(s) => Cell::Text(s.trim().to_owned()),
        Data::Int(i) => Cell::Text(i.to_string()),
        // Employee and phone numbers typed into a number cell: 13800138000,
        // not 13800138000.0 or 1.38e10.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cell::Text(format!("{f:.0}")),
        Data::Float(f) => Cell::Text(f.to_string()),
        Data::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.to_owned()),
        Data::DateTime(d) if d.is_datetime() => {
            let (year, month, day, ..) = d.to_ymd_hms_milli();
            Cell::Date(format!("{year:04}-{month:02}-{day:02}"))
        }
        Data::DateTimeIso(s)
            if s.len() >= 10
                && s.as_bytes().get(4) == Some(&b'-')
                && s.as_bytes().get(7) == Some(&b'-') =>
        {
            Cell::Date(s.get(..10).unwrap_or_default().to_owned())
        }
        Data::DateTime(_) | Data::DateTimeIso(_) | Data::DurationIso(_) | Data::Error(_) => {
            Cell::Unreadable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_cells_of_a_workbook_read_as_dates_and_numbers_as_digits() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 3, 2).unwrap();
        sheet.write_string(0, 0, "实际开工日期").unwrap();
        sheet.write_string(0, 1, "在职人数").unwrap();
        sheet
            .write_datetime_with_format(2, 0, &date, &date_format)
            .unwrap();
        sheet.write_number(2, 1, 240.0).unwrap();
        let rows = read(&workbook.save_to_buffer().unwrap(), Format::Xlsx, 10).unwrap();
        assert_eq!(rows.len(), 2, "the blank second row is skipped");
        assert_eq!(rows[1].row, 3);
        assert_eq!(
            rows[1].cells,
            [Cell::Date("2026-03-02".into()), Cell::Text("240".into())]
        );
    }

    #[test]
    fn more_rows_than_the_caller_allows_are_refused() {
        let csv = "a\n1\n2\n3\n";
        assert_eq!(read(csv.as_bytes(), Format::Csv, 3).unwrap().len(), 4);
        assert_eq!(
            read(csv.as_bytes(), Format::Csv, 2).unwrap_err(),
            SheetError::TooManyRows
        );
    }
}
