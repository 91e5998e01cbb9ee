//! Reads a bureau's staff roster (花名册) — the sheet its HR office already
//! keeps — from `.xlsx` or `.csv`.
//!
//! The first non-empty row is the header; columns are found by their
//! Chinese names in any order ([`Column::headers`] lists the names each
//! column answers to), and columns nobody asked for (性别, 备注…) are
//! reported and skipped. Every data row keeps the number the spreadsheet
//! shows for it, so that whoever checks the rows can say "row 17: …".
//! Cells are read as text: a number cell holding an employee number or a
//! phone number reads as its digits, without Excel's `.0`.
//!
//! Reading checks the file, not the people in it: whether a name is
//! present or a phone number valid is for the caller (civitas-identity).
//!
//! ```
//! let csv = "姓名,工号,所属单位,条线,岗位/角色,手机\n王芳,HM-0001,花木街道,民政,民政专员,13800138000\n";
//! let roster = civitas_roster::read(csv.as_bytes(), civitas_roster::Format::Csv).unwrap();
//! assert_eq!(roster.rows[0].row, 2);
//! assert_eq!(roster.rows[0].name, "王芳");
//! assert_eq!(roster.rows[0].phone.as_deref(), Some("13800138000"));
//! ```

use civitas_sheet::{Cell, Row, SheetError};

/// The most data rows one roster may hold.
pub const MAX_ROWS: usize = 10_000;

pub use civitas_sheet::{MAX_COLUMNS, MAX_UNPACKED_BYTES};

pub use civitas_sheet::Format;

/// A column the roster is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// 姓名: the person's name (required).
    Name,
    /// 工号: the employee number (required).
    EmployeeNo,
    /// 所属单位: the unit the person works at — a tenant's name, code or
    /// slug path (required).
    Unit,
    /// 条线: the line of business (required).
    Line,
    /// 岗位/角色: the position (optional).
    Position,
    /// 手机: the mobile phone number (optional).
    Phone,
    /// 邮箱: the e-mail address (optional).
    Email,
    /// 用户名: the sign-in name, when the bureau chooses its own (optional).
    Username,
}

impl Column {
    /// Every column, required ones first.
    pub const ALL: [Column; 8] = [
        Column::Name,
        Column::EmployeeNo,
        Column::Unit,
        Column::Line,
        Column::Position,
        Column::Phone,
        Column::Email,
        Column::Username,
    ];

    /// The header names this column answers to; the first is the one
    /// templates use.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Column::Name => &["姓名"],
            Column::EmployeeNo => &["工号", "员工编号", "职工号", "人员编号"],
            Column::Unit => &["所属单位", "单位", "所在单位", "工作单位"],
            Column::Line => &["条线", "业务条线"],
            Column::Position => &["岗位/角色", "岗位", "角色", "职务"],
            Column::Phone => &["手机", "手机号", "手机号码", "联系电话"],
            Column::Email => &["邮箱", "电子邮箱", "电子邮件"],
            Column::Username => &["用户名", "登录名", "账号"],
        }
    }

    /// The header name templates use, e.g. `工号`.
    pub fn header(self) -> &'static str {
        self.headers()[0]
    }

    /// Whether a roster must have this column.
    pub fn required(self) -> bool {
        matches!(
            self,
            Column::Name | Column::EmployeeNo | Column::Unit | Column::Line
        )
    }

    fn find(header: &str) -> Option<Column> {
        // Sheets write 岗位／角色 with a full-width slash, or pad with spaces.
        let normal: String = header
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| if c == '／' { '/' } else { c })
            .collect();
        Column::ALL
            .into_iter()
            .find(|c| c.headers().contains(&normal.as_str()))
    }
}

/// One person of the roster, as the file has them: every cell trimmed
/// text, empty when the cell is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterRow {
    /// The row's number as the spreadsheet shows it (the header is row 1
    /// when it is the first line); for CSV, the line the record starts on.
    pub row: u32,
    /// 姓名.
    pub name: String,
    /// 工号.
    pub employee_no: String,
    /// 所属单位.
    pub unit: String,
    /// 条线.
    pub line: String,
    /// 岗位/角色, when the column is there and the cell is not empty.
    pub position: Option<String>,
    /// 手机, likewise.
    pub phone: Option<String>,
    /// 邮箱, likewise.
    pub email: Option<String>,
    /// 用户名, likewise.
    pub username: Option<String>,
    /// Cells that hold no text a person wrote: Excel errors (`#N/A`) and
    /// dates where text belongs.
    pub unreadable: Vec<Column>,
}

/// A roster as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    /// The data rows, in file order; blank rows are skipped.
    pub rows: Vec<RosterRow>,
    /// Header names no column answers to, which were skipped.
    pub ignored_columns: Vec<String>,
}

/// Why a file cannot be read as a roster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// The bytes are no readable workbook or CSV, or unpack too large
    /// (civitas-sheet's reasons).
    #[error(transparent)]
    Sheet(SheetError),
    /// No header row: the file or its first sheet is empty.
    #[error("文件中没有表头和数据 / The file holds no header row")]
    Empty,
    /// Required columns are missing from the header row.
    #[error(
        "表头缺少必需列：{} / The header lacks required columns: {}",
        .missing.join("、"),
        .missing.join(", ")
    )]
    MissingColumns {
        /// The missing columns' template names.
        missing: Vec<&'static str>,
        /// The header as found, for the user to compare.
        found: Vec<String>,
    },
    /// A column appears twice in the header row.
    #[error("表头中 {0} 列重复 / The column {0} appears twice in the header")]
    DuplicateColumn(&'static str),
    /// A header and no data row.
    #[error("名册只有表头，没有数据行 / The roster has a header but no rows")]
    NoRows,
    /// More than [`MAX_ROWS`] data rows.
    #[error(
        "名册超过 {} 行，请分批导入 / The roster has more than {} rows; import it in parts",
        MAX_ROWS,
        MAX_ROWS
    )]
    TooManyRows,
}

/// Reads a roster from the bytes of a file in `format`.
pub fn read(bytes: &[u8], format: Format) -> Result<Roster, RosterError> {
    from_rows(civitas_sheet::read(bytes, format, MAX_ROWS)?)
}

impl From<SheetError> for RosterError {
    fn from(error: SheetError) -> RosterError {
        match error {
            SheetError::NoSheet => RosterError::Empty,
            SheetError::TooManyRows => RosterError::TooManyRows,
            error => RosterError::Sheet(error),
        }
    }
}

fn from_rows(rows: Vec<Row>) -> Result<Roster, RosterError> {
    let mut rows = rows.into_iter().map(|r| (r.row, r.cells));
    let (_, header) = rows.next().ok_or(RosterError::Empty)?;
    let mut positions: Vec<(Column, usize)> = Vec::new();
    let mut ignored_columns = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        let name = cell.text();
        if name.is_empty() {
            continue;
        }
        match Column::find(name) {
            Some(column) if positions.iter().any(|(c, _)| *c == column) => {
                return Err(RosterError::DuplicateColumn(column.header()));
            }
            Some(column) => positions.push((column, i)),
            None => ignored_columns.push(name.to_owned()),
        }
    }
    let missing: Vec<&'static str> = Column::ALL
        .into_iter()
        .filter(|c| c.required() && !positions.iter().any(|(p, _)| p == c))
        .map(Column::header)
        .collect();
    if !missing.is_empty() {
        return Err(RosterError::MissingColumns {
            missing,
            found: header.iter().map(|c| c.text().to_owned()).collect(),
        });
    }
    let mut roster = Roster {
        rows: Vec::new(),
        ignored_columns,
    };
    for (row, cells) in rows {
        if roster.rows.len() == MAX_ROWS {
            return Err(RosterError::TooManyRows);
        }
        let mut person = RosterRow {
            row,
            ..RosterRow::default()
        };
        for &(column, i) in &positions {
            let text = match cells.get(i) {
                Some(Cell::Text(t)) => t.clone(),
                // A date where a name or a number belongs is a typing slip.
                Some(Cell::Date(_) | Cell::Unreadable) => {
                    person.unreadable.push(column);
                    String::new()
                }
                None => String::new(),
            };
            let optional = (!text.is_empty()).then(|| text.clone());
            match column {
                Column::Name => person.name = text,
                Column::EmployeeNo => person.employee_no = text,
                Column::Unit => person.unit = text,
                Column::Line => person.line = text,
                Column::Position => person.position = optional,
                Column::Phone => person.phone = optional,
                Column::Email => person.email = optional,
                Column::Username => person.username = optional,
            }
        }
        roster.rows.push(person);
    }
    if roster.rows.is_empty() {
        return Err(RosterError::NoRows);
    }
    Ok(roster)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "姓名,工号,所属单位,条线,岗位/角色,手机";

    fn csv(lines: &[&str]) -> Vec<u8> {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    }

    fn xlsx(rows: &[Vec<&str>], numbers_as_numbers: bool) -> Vec<u8> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (r, cells) in rows.iter().enumerate() {
            for (c, text) in cells.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match text.parse::<f64>() {
                    Ok(n) if numbers_as_numbers => sheet.write_number(r, c, n).map(|_| ()),
                    _ => sheet.write_string(r, c, *text).map(|_| ()),
                }
                .unwrap();
            }
        }
        workbook.save_to_buffer().unwrap()
    }

    #[test]
    fn a_csv_roster_reads_every_row_with_its_line_number() {
        let roster = read(
            &csv(&[
                HEADER,
                "王芳,HM-0001,花木街道,民政,民政专员,13800138000",
                "",
                "李强,HM-0002,花木街道,人社,,",
            ]),
            Format::Csv,
        )
        .unwrap();
        assert_eq!(roster.rows.len(), 2);
        assert_eq!(roster.rows[0].row, 2);
        assert_eq!(roster.rows[0].position.as_deref(), Some("民政专员"));
        // The blank line is skipped but still counted.
        assert_eq!(roster.rows[1].row, 4);
        assert_eq!(roster.rows[1].name, "李强");
        assert_eq!(roster.rows[1].position, None);
        assert_eq!(roster.rows[1].phone, None);
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_unknown_ones_are_reported() {
        let roster = read(
            &csv(&[
                "手机号码, 性别 ,条线,姓名,备注,所属单位,工号,岗位／角色",
                "13800138000,女,民政,王芳,,花木街道,HM-0001,民政专员",
            ]),
            Format::Csv,
        )
        .unwrap();
        let row = &roster.rows[0];
        assert_eq!(
            (
                row.name.as_str(),
                row.employee_no.as_str(),
                row.unit.as_str()
            ),
            ("王芳", "HM-0001", "花木街道")
        );
        assert_eq!(row.position.as_deref(), Some("民政专员"));
        assert_eq!(row.phone.as_deref(), Some("13800138000"));
        assert_eq!(roster.ignored_columns, ["性别", "备注"]);
    }

    #[test]
    fn a_header_without_a_required_column_names_every_missing_one() {
        let error = read(
            &csv(&["姓名,岗位,手机", "王芳,专员,13800138000"]),
            Format::Csv,
        )
        .unwrap_err();
        assert_eq!(
            error,
            RosterError::MissingColumns {
                missing: vec!["工号", "所属单位", "条线"],
                found: vec!["姓名".into(), "岗位".into(), "手机".into()],
            }
        );
        assert!(error.to_string().contains("工号、所属单位、条线"));
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let error = read(&csv(&["姓名,工号,单位,所属单位,条线"]), Format::Csv).unwrap_err();
        assert_eq!(error, RosterError::DuplicateColumn("所属单位"));
    }

    #[test]
    fn an_empty_file_has_no_header() {
        assert_eq!(read(b"", Format::Csv).unwrap_err(), RosterError::Empty);
        assert_eq!(
            read(b"\n,,\n", Format::Csv).unwrap_err(),
            RosterError::Empty
        );
        assert_eq!(
            read(&xlsx(&[], false), Format::Xlsx).unwrap_err(),
            RosterError::Empty
        );
        assert_eq!(
            read("姓名,工号,所属单位,条线\n".as_bytes(), Format::Csv).unwrap_err(),
            RosterError::NoRows
        );
    }

    #[test]
    fn a_csv_saved_by_a_chinese_excel_in_gbk_or_with_a_bom_reads_the_same() {
        let utf8 = csv(&[HEADER, "王芳,HM-0001,花木街道,民政,民政专员,13800138000"]);
        let expected = read(&utf8, Format::Csv).unwrap();
        let (gbk, _, lossy) = encoding_rs::GBK.encode(std::str::from_utf8(&utf8).unwrap());
        assert!(!lossy);
        assert_eq!(read(&gbk, Format::Csv).unwrap(), expected);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&utf8);
        assert_eq!(read(&bom, Format::Csv).unwrap(), expected);
    }

    #[test]
    fn an_xlsx_roster_reads_numbers_typed_into_number_cells_as_their_digits() {
        let rows = vec![
            vec!["姓名", "工号", "所属单位", "条线", "岗位/角色", "手机"],
            vec![
                "王芳",
                "10001",
                "花木街道",
                "民政",
                "民政专员",
                "13800138000",
            ],
            vec![],
            vec!["李强", "HM-0002", "花木街道", "人社", "", ""],
        ];
        let roster = read(&xlsx(&rows, true), Format::Xlsx).unwrap();
        assert_eq!(roster.rows.len(), 2);
        assert_eq!(roster.rows[0].row, 2);
        assert_eq!(roster.rows[0].employee_no, "10001");
        assert_eq!(roster.rows[0].phone.as_deref(), Some("13800138000"));
        assert_eq!(roster.rows[1].row, 4);
        assert_eq!(roster.rows[1].employee_no, "HM-0002");
        // The same roster as CSV reads the same people.
        let csv_roster = read(
            &csv(&[
                HEADER,
                "王芳,10001,花木街道,民政,民政专员,13800138000",
                "",
                "李强,HM-0002,花木街道,人社,,",
            ]),
            Format::Csv,
        )
        .unwrap();
        assert_eq!(roster, csv_roster);
    }

    #[test]
    fn a_date_or_an_excel_error_where_text_belongs_is_marked_unreadable() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (c, h) in ["姓名", "工号", "所属单位", "条线"].iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        sheet.write_string(1, 0, "王芳").unwrap();
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 5, 1).unwrap();
        let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        sheet
            .write_datetime_with_format(1, 1, &date, &format)
            .unwrap();
        sheet.write_string(1, 2, "花木街道").unwrap();
        sheet.write_string(1, 3, "民政").unwrap();
        let roster = read(&workbook.save_to_buffer().unwrap(), Format::Xlsx).unwrap();
        assert_eq!(roster.rows[0].unreadable, [Column::EmployeeNo]);
        assert_eq!(roster.rows[0].employee_no, "");
    }

    #[test]
    fn a_sheet_with_a_far_away_cell_is_read_sparsely_and_blank_rows_do_not_count() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (c, h) in ["姓名", "工号", "所属单位", "条线"].iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (c, v) in ["王芳", "1", "花木街道", "民政"].iter().enumerate() {
            sheet.write_string(1, c as u16, *v).unwrap();
        }
        // The last cell Excel has: a dense read would need 17 billion cells.
        sheet.write_string(1_048_575, 16_383, "页脚").unwrap();
        let roster = read(&workbook.save_to_buffer().unwrap(), Format::Xlsx).unwrap();
        let rows: Vec<u32> = roster.rows.iter().map(|r| r.row).collect();
        // The far cell is past the columns read: its row is blank here.
        assert_eq!(rows, [2]);
    }

    #[test]
    fn bytes_that_are_no_workbook_are_refused_with_the_reason() {
        assert!(matches!(
            read(b"PK\x03\x04 not really", Format::Xlsx),
            Err(RosterError::Sheet(SheetError::NotXlsx(_)))
        ));
        assert!(matches!(
            read("姓名,工号".as_bytes(), Format::Xlsx),
            Err(RosterError::Sheet(SheetError::NotXlsx(_)))
        ));
    }

    #[test]
    fn lines_ending_in_a_lone_carriage_return_are_counted_too() {
        let roster = read(
            "姓名,工号,所属单位,条线\r王芳,1,花木街道,民政\r\r李强,2,花木街道,民政\r".as_bytes(),
            Format::Csv,
        )
        .unwrap();
        let rows: Vec<u32> = roster.rows.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 4]);
    }

    #[test]
    fn a_csv_with_a_broken_quote_names_its_line() {
        let error = read(
            &csv(&[HEADER, "王芳,HM-0001,花木街道,民政,\"民政专员,13800138000"]),
            Format::Csv,
        );
        // The csv crate reads an unterminated quote to the end of input;
        // either it fails naming a line, or the row is read whole.
        match error {
            Err(RosterError::Sheet(SheetError::NotCsv { line, .. })) => assert!(line >= 1),
            Ok(roster) => assert_eq!(roster.rows.len(), 1),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn more_rows_than_the_limit_are_refused() {
        let mut lines = vec![HEADER.to_owned()];
        lines.extend((0..=MAX_ROWS).map(|i| format!("王{i},E{i},花木街道,民政,,")));
        let text = lines.join("\n");
        assert_eq!(
            read(text.as_bytes(), Format::Csv).unwrap_err(),
            RosterError::TooManyRows
        );
        lines.pop();
        assert_eq!(
            read(lines.join("\n").as_bytes(), Format::Csv)
                .unwrap()
                .rows
                .len(),
            MAX_ROWS
        );
    }

    #[test]
    fn the_format_is_told_by_content_type_file_name_or_bytes() {
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8", b""),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type(Format::XLSX_MIME, b""),
            Some(Format::Xlsx)
        );
        assert_eq!(
            Format::from_content_type("application/octet-stream", b"PK\x03\x04..."),
            Some(Format::Xlsx)
        );
        assert_eq!(Format::from_content_type("application/json", b"{}"), None);
        assert_eq!(
            Format::from_content_type("application/vnd.ms-excel", "姓名,工号".as_bytes()),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type("application/vnd.ms-excel", b"\xD0\xCF\x11\xE0\xA1\xB1"),
            None,
            "an old binary .xls is not read"
        );
        assert_eq!(Format::from_file_name("员工.XLSX"), Some(Format::Xlsx));
        assert_eq!(Format::from_file_name("staff.csv"), Some(Format::Csv));
        assert_eq!(Format::from_file_name("staff.xls"), None);
    }
}
