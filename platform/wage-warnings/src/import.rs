//! Reading a month of project monitoring data from a sheet: the columns
//! found by their Chinese names, every cell typed, every bad cell named by
//! its row and column — a pure plan, nothing stored.

use std::collections::{HashMap, HashSet};

use civitas_sheet::{Cell, Format, Row, SheetError};
pub use civitas_sheet::{RowProblem, bad_rows};
use civitas_tenancy::TenantPath;
use serde_json::{Map, Value, json};

/// The most data rows one file may hold (a month of a district's
/// construction projects is a few thousand).
pub const MAX_ROWS: usize = 50_000;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Place,
    ProjectType,
    Status,
    Month,
    Date,
    Count,
    Yuan,
    YesNo,
}

/// A column of the sheet: the input field it fills, its header names, what
/// it holds and whether the file must have it.
#[derive(Debug, Clone, Copy)]
struct Column {
    field: &'static str,
    headers: &'static [&'static str],
    kind: Kind,
    required: bool,
}

const COLUMNS: &[Column] = &[
    Column {
        field: "project_code",
        headers: &["项目编号", "项目代码"],
        kind: Kind::Text,
        required: true,
    },
    Column {
        field: "project_name",
        headers: &["项目名称"],
        kind: Kind::Text,
        required: true,
    },
    Column {
        field: "place",
        headers: &["所属区划", "项目所属区划", "区划代码", "所属区域"],
        kind: Kind::Place,
        required: true,
    },
    Column {
        field: "project_type",
        headers: &["项目类型"],
        kind: Kind::ProjectType,
        required: true,
    },
    Column {
        field: "status",
        headers: &["项目状态"],
        kind: Kind::Status,
        required: true,
    },
    Column {
        field: "month",
        headers: &["数据月份", "月份", "监测月份"],
        kind: Kind::Month,
        required: true,
    },
    Column {
        field: "actual_start_on",
        headers: &["实际开工日期"],
        kind: Kind::Date,
        required: true,
    },
    Column {
        field: "headcount",
        headers: &["在职人数", "在职人员数量"],
        kind: Kind::Count,
        required: true,
    },
    Column {
        field: "attended",
        headers: &["考勤人数", "有考勤在职人数"],
        kind: Kind::Count,
        required: true,
    },
    Column {
        field: "wage_account_open",
        headers: &["工资专户", "工资专用账户"],
        kind: Kind::YesNo,
        required: true,
    },
    Column {
        field: "labour_cost_in_yuan",
        headers: &["人工费拨入", "本月人工费拨入"],
        kind: Kind::Yuan,
        required: true,
    },
    Column {
        field: "wages_paid_yuan",
        headers: &["代发工资", "本月代发工资"],
        kind: Kind::Yuan,
        required: true,
    },
    Column {
        field: "last_wages_paid_on",
        headers: &["最近代发工资日期"],
        kind: Kind::Date,
        required: false,
    },
    Column {
        field: "complaints",
        headers: &["投诉件数", "欠薪投诉件数"],
        kind: Kind::Count,
        required: false,
    },
    Column {
        field: "deposit_due_yuan",
        headers: &["应缴保证金"],
        kind: Kind::Yuan,
        required: false,
    },
    Column {
        field: "deposit_paid_yuan",
        headers: &["实缴保证金"],
        kind: Kind::Yuan,
        required: false,
    },
    Column {
        field: "deposit_exempt",
        headers: &["免除保证金"],
        kind: Kind::YesNo,
        required: false,
    },
    Column {
        field: "deposit_expires_on",
        headers: &["保证金截止日期", "保函保单有效截止日期"],
        kind: Kind::Date,
        required: false,
    },
];

/// The header names of a template, in order (what a bureau's sheet
/// starts from).
pub fn template_headers() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.headers[0]).collect()
}

/// `人工费拨入（元）` → `人工费拨入`: spaces and a unit in brackets dropped.
fn normal(header: &str) -> String {
    let cut = header
        .find(['(', '（'])
        .map_or(header, |at| header.get(..at).unwrap_or(header));
    cut.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A place a row may name: a district or street of the importing subtree
/// that has the wage-arrears line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The tenant.
    pub tenant: TenantPath,
    /// Its division code (what the record keeps).
    pub code: String,
}

/// The places rows may name, by division code and by name (a name two
/// places share names neither: the row must give the code).
#[derive(Debug, Clone, Default)]
pub struct Places {
    by_key: HashMap<String, Place>,
    shared_names: HashSet<String>,
}

impl Places {
    /// Places from `(tenant, code, Chinese name)`.
    pub fn new<'a>(places: impl IntoIterator<Item = (&'a TenantPath, &'a str, &'a str)>) -> Places {
        let mut by_key = HashMap::new();
        let mut names = HashMap::new();
        for (tenant, code, name) in places {
            let place = Place {
                tenant: tenant.clone(),
                code: code.to_owned(),
            };
            by_key.insert(code.to_owned(), place.clone());
            *names.entry(name.to_owned()).or_insert(0) += 1;
            by_key.insert(name.to_owned(), place);
        }
        let shared_names: HashSet<String> = names
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(name, _)| name)
            .collect();
        for name in &shared_names {
            by_key.remove(name);
        }
        Places {
            by_key,
            shared_names,
        }
    }

    fn find(&self, text: &str) -> Option<&Place> {
        self.by_key.get(text)
    }

    fn shared(&self, text: &str) -> bool {
        self.shared_names.contains(text)
    }
}

/// A project-month a row gives: where the project is and the input
/// document the warning module is given.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectMonth {
    /// The row it comes from.
    pub row: u32,
    /// The district or street the project is registered at.
    pub tenant: TenantPath,
    /// 项目编号.
    pub project_code: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The document (the service's input schema).
    pub record: Value,
}

/// What a file holds: the project-months of its good rows and every
/// problem. Stored only when there are no problems.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    /// Good rows, in file order.
    pub records: Vec<ProjectMonth>,
    /// Every problem, in file order.
    pub problems: Vec<RowProblem>,
    /// Header names no column answers to (skipped).
    pub ignored_columns: Vec<String>,
}

/// Why a file cannot be read as project monitoring data at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not a readable CSV or workbook, or too large.
    #[error(transparent)]
    Sheet(#[from] SheetError),
    /// No header row.
    #[error("文件中没有表头和数据 / The file holds no header row")]
    Empty,
    /// A header and no data.
    #[error("文件只有表头，没有数据行 / The file has a header but no rows")]
    NoRows,
    /// Required columns missing.
    #[error(
        "表头缺少必需列：{} / The header lacks required columns: {}",
        .missing.join("、"),
        .missing.join(", ")
    )]
    MissingColumns {
        /// Their template names.
        missing: Vec<&'static str>,
    },
    /// A column named twice.
    #[error("表头中 {0} 列重复 / The column {0} appears twice in the header")]
    DuplicateColumn(&'static str),
}

/// Reads `bytes` (CSV or xlsx) into a plan against `places`.
pub fn read(bytes: &[u8], format: Format, places: &Places) -> Result<ImportPlan, ReadError> {
    plan(civitas_sheet::read(bytes, format, MAX_ROWS)?, places)
}

/// The plan for rows already read (the first is the header).
pub fn plan(rows: Vec<Row>, places: &Places) -> Result<ImportPlan, ReadError> {
    let mut rows = rows.into_iter();
    let header = rows.next().ok_or(ReadError::Empty)?;
    let mut positions: Vec<(&'static Column, usize)> = Vec::new();
    let mut ignored_columns = Vec::new();
    for (i, cell) in header.cells.iter().enumerate() {
        let name = normal(cell.text());
        if name.is_empty() {
            continue;
        }
        match COLUMNS.iter().find(|c| c.headers.contains(&name.as_str())) {
            Some(column) if positions.iter().any(|(c, _)| c.field == column.field) => {
                return Err(ReadError::DuplicateColumn(column.headers[0]));
            }
            Some(column) => positions.push((column, i)),
            None => ignored_columns.push(cell.text().to_owned()),
        }
    }
    let missing: Vec<&'static str> = COLUMNS
        .iter()
        .filter(|c| c.required && !positions.iter().any(|(p, _)| p.field == c.field))
        .map(|c| c.headers[0])
        .collect();
    if !missing.is_empty() {
        return Err(ReadError::MissingColumns { missing });
    }
    let mut plan = ImportPlan {
        ignored_columns,
        ..ImportPlan::default()
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut any = false;
    for row in rows {
        any = true;
        let mut record = Map::new();
        let mut tenant = None;
        let before = plan.problems.len();
        for &(column, i) in &positions {
            let cell = row.cells.get(i).unwrap_or(&Cell::Unreadable);
            let empty = cell.is_empty() || matches!(cell, Cell::Unreadable);
            if empty && !column.required {
                continue;
            }
            match typed(column, cell, places) {
                Ok((value, place)) => {
                    if let Some(place) = place {
                        tenant = Some(place.tenant.clone());
                        record.insert(column.field.into(), json!(place.code));
                    } else {
                        record.insert(column.field.into(), value);
                    }
                }
                Err((zh, en)) => plan.problems.push(RowProblem {
                    row: row.row,
                    column: Some(column.headers[0]),
                    message_zh: zh,
                    message_en: en,
                }),
            }
        }
        if plan.problems.len() > before {
            continue;
        }
        let number = |field: &str| record.get(field).and_then(Value::as_u64).unwrap_or(0);
        if number("attended") > number("headcount") {
            plan.problems.push(RowProblem {
                row: row.row,
                column: Some("考勤人数"),
                message_zh: "考勤人数不能多于在职人数".into(),
                message_en: "more people with attendance than in service".into(),
            });
            continue;
        }
        let text = |field: &str| {
            record
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (code, month) = (text("project_code"), text("month"));
        if !seen.insert((code.clone(), month.clone())) {
            plan.problems.push(RowProblem {
                row: row.row,
                column: Some("项目编号"),
                message_zh: format!("项目 {code} 的 {month} 数据在文件中重复"),
                message_en: format!("project {code} has a second row for {month}"),
            });
            continue;
        }
        let Some(tenant) = tenant else { continue };
        plan.records.push(ProjectMonth {
            row: row.row,
            tenant,
            project_code: code,
            month,
            record: Value::Object(record),
        });
    }
    if !any {
        return Err(ReadError::NoRows);
    }
    Ok(plan)
}

type CellError = (String, String);

fn typed<'p>(
    column: &Column,
    cell: &Cell,
    places: &'p Places,
) -> Result<(Value, Option<&'p Place>), CellError> {
    let text = cell.text().trim();
    if text.is_empty() {
        return Err((
            "必填，不能为空".into(),
            "required; the cell is empty".into(),
        ));
    }
    let value = match column.kind {
        Kind::Text => {
            if text.chars().count() > 200 || text.chars().any(char::is_control) {
                return Err((
                    "过长或含控制字符".into(),
                    "too long, or holds control characters".into(),
                ));
            }
            json!(text)
        }
        Kind::Place => {
            if places.shared(text) {
                return Err((
                    format!("“{text}”有重名，请填写区划代码"),
                    format!("{text:?} names more than one place: give its division code"),
                ));
            }
            let place = places.find(text).ok_or_else(|| {
                (
                    format!("“{text}”不是本辖区内受理人社业务的区或街镇"),
                    format!("{text:?} is no district or street of this subtree with the human resources line"),
                )
            })?;
            return Ok((Value::Null, Some(place)));
        }
        Kind::ProjectType => match text {
            "工程建设" | "建设工程" | "construction" => json!("construction"),
            "其他" | "other" => json!("other"),
            _ => {
                return Err(choice(
                    text,
                    "工程建设、其他",
                    "工程建设 (construction) or 其他 (other)",
                ));
            }
        },
        Kind::Status => match text {
            "在建" | "in-progress" => json!("in-progress"),
            "停工" | "stopped" => json!("stopped"),
            "完工" | "竣工" | "completed" => json!("completed"),
            _ => return Err(choice(text, "在建、停工、完工", "在建, 停工 or 完工")),
        },
        Kind::Month => json!(month(cell).ok_or_else(|| (
            format!("“{text}”不是月份（如 2026-11）"),
            format!("{text:?} is not a month (e.g. 2026-11)"),
        ))?),
        Kind::Date => json!(date(text).ok_or_else(|| (
            format!("“{text}”不是日期（如 2026-03-02）"),
            format!("{text:?} is not a date (e.g. 2026-03-02)"),
        ))?),
        Kind::Count => json!(whole(text, 1_000_000).ok_or_else(|| (
            format!("“{text}”不是 0 至 1000000 的整数"),
            format!("{text:?} is not a whole number from 0 to 1,000,000"),
        ))?),
        Kind::Yuan => json!(yuan(text).ok_or_else(|| (
            format!("“{text}”不是金额（元，最多两位小数）"),
            format!("{text:?} is not an amount in yuan (at most two decimals)"),
        ))?),
        Kind::YesNo => match text {
            "是" | "有" | "正常" | "Y" | "y" | "TRUE" => json!(true),
            "否" | "无" | "注销" | "N" | "n" | "FALSE" => json!(false),
            _ => return Err(choice(text, "是、否", "是 (yes) or 否 (no)")),
        },
    };
    Ok((value, None))
}

fn choice(text: &str, zh: &str, en: &str) -> CellError {
    (
        format!("“{text}”不是可选值（{zh}）"),
        format!("{text:?} is not one of {en}"),
    )
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-03-02`, `2026/3/2` or `2026.03.02` → `2026-03-02`, a real day.
fn date(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1900..=2999).contains(&y) && (1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d))
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// `2026-11`, `2026/11`, `202611`, `2026年11月`, or a date cell → `2026-11`.
fn month(cell: &Cell) -> Option<String> {
    let text = cell.text().trim();
    if let Cell::Date(d) = cell {
        return d.get(..7).map(str::to_owned);
    }
    let text = text.trim_end_matches('月').replace('年', "-");
    let (y, m) = match text.split_once(['-', '/', '.']) {
        Some((y, m)) => (y.to_owned(), m.to_owned()),
        None if text.len() == 6 => (text.get(..4)?.to_owned(), text.get(4..)?.to_owned()),
        None => return None,
    };
    let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
    ((1900..=2999).contains(&y) && (1..=12).contains(&m)).then(|| format!("{y:04}-{m:02}"))
}

fn whole(text: &str, max: u64) -> Option<u64> {
    let text = text.replace(',', "");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    text.parse::<u64>().ok().filter(|n| *n <= max)
}

/// Whole yuan: `1,200`, `1200.00`; fen are rounded half up (amounts are
/// compared with each other, never paid from here).
fn yuan(text: &str) -> Option<u64> {
    let text = text.replace([',', '，'], "");
    let (whole_part, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let yuan: u64 = whole_part
        .parse()
        .ok()
        .filter(|n| *n <= 1_000_000_000_000)?;
    let fen: u64 = format!("{fraction:0<2}").parse().ok()?;
    Some(yuan + u64::from(fen >= 50))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "项目编号,项目名称,所属区划,项目类型,项目状态,数据月份,实际开工日期,在职人数,考勤人数,工资专户,人工费拨入（元）,代发工资（元）,最近代发工资日期";

    fn places() -> (TenantPath, Places) {
        let pudong = TenantPath::parse("310000/310115").unwrap();
        let lujiazui = TenantPath::parse("310000/310115/310115005").unwrap();
        let places = Places::new([
            (&pudong, "310115", "浦东新区"),
            (&lujiazui, "310115005", "陆家嘴街道"),
        ]);
        (lujiazui, places)
    }

    fn csv(lines: &[&str]) -> Vec<u8> {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    }

    #[test]
    fn a_good_row_becomes_the_modules_input_document() {
        let (lujiazui, places) = places();
        let plan = read(
            &csv(&[HEADER, "PD-1,某工程,陆家嘴街道,工程建设,在建,2026/11,2026/5/6,240,200,是,\"800,000.00\",0,2026-10-16"]),
            Format::Csv,
            &places,
        )
        .unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        let record = &plan.records[0];
        assert_eq!(
            (record.row, &record.tenant, record.month.as_str()),
            (2, &lujiazui, "2026-11")
        );
        assert_eq!(
            record.record,
            json!({"project_code": "PD-1", "project_name": "某工程", "place": "310115005",
                   "project_type": "construction", "status": "in-progress", "month": "2026-11",
                   "actual_start_on": "2026-05-06", "headcount": 240, "attended": 200,
                   "wage_account_open": true, "labour_cost_in_yuan": 800000, "wages_paid_yuan": 0,
                   "last_wages_paid_on": "2026-10-16"})
        );
    }

    #[test]
    fn every_bad_cell_is_named_by_row_and_column() {
        let (_, places) = places();
        let plan = read(
            &csv(&[
                HEADER,
                "PD-1,某工程,徐汇区,工程建设,在建,2026-11,2026-02-30,240,200,是,0,0,",
                "PD-2,某工程,310115,工程建设,施工中,2026-13,2026-05-06,10,20,也许,-5,0,",
                "PD-3,某工程,310115,其他,停工,2026-11,2026-05-06,10,5,否,0,0,",
                "PD-3,某工程,310115,其他,停工,2026-11,2026-05-06,10,5,否,0,0,",
            ]),
            Format::Csv,
            &places,
        )
        .unwrap();
        let found: Vec<(u32, Option<&str>)> =
            plan.problems.iter().map(|p| (p.row, p.column)).collect();
        assert_eq!(
            found,
            [
                (2, Some("所属区划")),
                (2, Some("实际开工日期")),
                (3, Some("项目状态")),
                (3, Some("数据月份")),
                (3, Some("工资专户")),
                (3, Some("人工费拨入")),
                (5, Some("项目编号")),
            ]
        );
        assert_eq!(plan.records.len(), 1, "only PD-3's first row is good");
    }

    #[test]
    fn the_sample_file_the_readme_imports_reads_without_a_problem() {
        let sample = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tenants/_services/hr-social-security/wage-arrears-warning/sample-2026-11.csv"
        ))
        .unwrap();
        let paths: Vec<(TenantPath, &str, &str)> = [
            ("310000/310115", "310115", "浦东新区"),
            ("310000/310115/310115005", "310115005", "陆家嘴街道"),
            ("310000/310101", "310101", "黄浦区"),
            ("310000/310104", "310104", "徐汇区"),
        ]
        .into_iter()
        .map(|(p, c, n)| (TenantPath::parse(p).unwrap(), c, n))
        .collect();
        let places = Places::new(paths.iter().map(|(p, c, n)| (p, *c, *n)));
        let plan = read(&sample, Format::Csv, &places).unwrap();
        assert!(
            plan.problems.is_empty() && plan.ignored_columns.is_empty(),
            "{:?}",
            plan.problems
        );
        assert_eq!(plan.records.len(), 6);
        assert_eq!(plan.records[5].record["deposit_expires_on"], "2026-12-20");
        assert_eq!(plan.records[5].record["wage_account_open"], false);
    }

    #[test]
    fn a_name_two_places_share_must_be_given_as_a_code() {
        let a = TenantPath::parse("510000/511700/511724/511724101").unwrap();
        let b = TenantPath::parse("510000/511700/511722/511722101").unwrap();
        let places = Places::new([(&a, "511724101", "城关镇"), (&b, "511722101", "城关镇")]);
        let plan = read(
            &csv(&[
                HEADER,
                "X-1,某工程,城关镇,工程建设,在建,2026-11,2026-05-06,10,5,是,0,0,",
                "X-2,某工程,511722101,工程建设,在建,2026-11,2026-05-06,10,5,是,0,0,",
            ]),
            Format::Csv,
            &places,
        )
        .unwrap();
        assert_eq!(plan.problems.len(), 1);
        assert!(
            plan.problems[0].message_zh.contains("重名"),
            "{:?}",
            plan.problems
        );
        assert_eq!(plan.records[0].tenant, b);
    }

    #[test]
    fn a_file_without_a_required_column_names_them_all() {
        let (_, places) = places();
        let error = read(
            &csv(&["项目编号,项目名称,备注", "PD-1,某工程,"]),
            Format::Csv,
            &places,
        )
        .unwrap_err();
        let ReadError::MissingColumns { missing } = error else {
            panic!("{error:?}")
        };
        assert_eq!(missing.len(), 10);
        assert!(missing.contains(&"实际开工日期"));
    }

    #[test]
    fn an_xlsx_with_date_cells_reads_the_same() {
        let (_, places) = places();
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (c, h) in HEADER.split(',').enumerate() {
            sheet.write_string(0, c as u16, h).unwrap();
        }
        let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let cells = ["PD-1", "某工程", "310115", "工程建设", "在建", "2026-11"];
        for (c, v) in cells.iter().enumerate() {
            sheet.write_string(1, c as u16, *v).unwrap();
        }
        let start = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 5, 6).unwrap();
        sheet
            .write_datetime_with_format(1, 6, &start, &format)
            .unwrap();
        for (c, n) in [(7, 240.0), (8, 200.0)] {
            sheet.write_number(1, c, n).unwrap();
        }
        sheet.write_string(1, 9, "是").unwrap();
        sheet.write_number(1, 10, 800000.0).unwrap();
        sheet.write_number(1, 11, 0.0).unwrap();
        let plan = read(&workbook.save_to_buffer().unwrap(), Format::Xlsx, &places).unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems);
        assert_eq!(plan.records[0].record["actual_start_on"], "2026-05-06");
        assert_eq!(plan.records[0].record["headcount"], 240);
        assert!(plan.records[0].record.get("last_wages_paid_on").is_none());
    }
}
