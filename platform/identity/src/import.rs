//! Importing a staff roster: the system administrator brings on a bureau's
//! staff from the sheet its HR office keeps (civitas-roster reads it).
//!
//! [`plan_import`] is pure: it turns every row into an account or names
//! what is wrong with it (a missing name, a unit outside the subtree, a line
//! the unit does not have, a phone number that is not one, the same
//! employee number twice…). [`check_taken`] adds the clashes with accounts
//! that exist. [`import_staff`] creates every planned account in one
//! transaction, or none: a plan with any problem is refused whole, so a
//! corrected file can be imported again without leftovers.
//!
//! Usernames come from a 用户名 column when the sheet has one, else from
//! the unit's slug and the employee number (`huamu.hm-0001`). 岗位/角色 is
//! stored as the position: roles are the security administrator's to
//! grant (三员分立).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civitas_roster::{Column, Roster, RosterRow};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::{Line, TenantPath};
use civitas_vault::Keyring;
use zeroize::Zeroizing;

use crate::administration::{
    AdminError, FieldError, NewStaffAccount, StaffProfile, check_new_account, insert_all, taken,
};
use crate::{AccountKind, valid_username};

/// A unit a roster may name in 所属单位: a tenant of the importer's
/// subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportUnit {
    /// Its path of codes.
    pub path: TenantPath,
    /// Its own code, e.g. `310115009`.
    pub code: String,
    /// Its Chinese name, e.g. 花木街道.
    pub name: String,
    /// Its slug, e.g. `huamu`: the first part of derived usernames.
    pub slug: String,
    /// Its slug path, e.g. `shanghai/pudong/huamu`.
    pub slug_path: String,
    /// The lines present at it.
    pub lines: Vec<String>,
}

impl From<&civitas_storage::TenantRecord> for ImportUnit {
    fn from(r: &civitas_storage::TenantRecord) -> ImportUnit {
        ImportUnit {
            path: r.path.clone(),
            code: r.code.clone(),
            name: r.name.clone(),
            slug: r.slug.clone(),
            slug_path: r.slug_path.clone(),
            lines: r.lines.clone(),
        }
    }
}

pub use civitas_sheet::{RowProblem, bad_rows};

/// An account a row will create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAccount {
    /// The row it comes from.
    pub row: u32,
    /// The account.
    pub account: NewStaffAccount,
}

/// A roster checked: the accounts it would create and every problem found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    /// One account per good row, in file order.
    pub accounts: Vec<PlannedAccount>,
    /// Every problem, by row.
    pub problems: Vec<RowProblem>,
}

fn username_taken(row: u32, name: &str) -> RowProblem {
    RowProblem {
        row,
        column: Some(Column::Username.header()),
        message_zh: format!("用户名 {name} 已被使用"),
        message_en: format!("The username {name} is taken"),
    }
}

fn employee_no_taken(row: u32, no: &str) -> RowProblem {
    RowProblem {
        row,
        column: Some(Column::EmployeeNo.header()),
        message_zh: format!("工号 {no} 在该单位已有账户"),
        message_en: format!("The unit has an account with employee number {no} already"),
    }
}

impl ImportPlan {
    /// The rows with at least one problem, each once, in order.
    pub fn bad_rows(&self) -> Vec<u32> {
        bad_rows(&self.problems)
    }

    fn problem(&mut self, row: u32, column: Column, zh: String, en: String) {
        self.problems.push(RowProblem {
            row,
            column: Some(column.header()),
            message_zh: zh,
            message_en: en,
        });
    }
}

/// An account an import created.
#[derive(Debug)]
pub struct ImportedAccount {
    /// The row it came from.
    pub row: u32,
    /// Its username.
    pub username: String,
    /// Its one-time password, to hand to the person.
    pub one_time_password: Zeroizing<String>,
}

/// Why an import created nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows are wrong (every one named): nothing was created.
    #[error("名册有 {} 个问题，未创建任何账户 / The roster has {} problems; nothing was created", .0.len(), .0.len())]
    Refused(Vec<RowProblem>),
    /// The database, the vault or the audit log failed: nothing was created.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

/// Plans the import of `roster` into the units given (the importer's
/// subtree): every row becomes an account or problems. `lines` are the
/// platform's line definitions, so that 条线 may say 民政 or 人社 as well
/// as `civil-affairs`.
pub fn plan_import(roster: &Roster, units: &[ImportUnit], lines: &[Line]) -> ImportPlan {
    let mut plan = ImportPlan::default();
    // (tenant, employee number) and username → the first row that has it.
    let mut numbers: HashMap<(TenantPath, String), u32> = HashMap::new();
    let mut usernames: HashMap<String, u32> = HashMap::new();
    for person in &roster.rows {
        let before = plan.problems.len();
        let row = person.row;
        for column in &person.unreadable {
            plan.problem(
                row,
                *column,
                "单元格不是文本（日期或 Excel 错误值），请改为文本".into(),
                "The cell holds a date or an Excel error, not text".into(),
            );
        }
        let unit = find_unit(person, units, &mut plan);
        let line = find_line(person, lines, &mut plan);
        let Some(unit) = unit else { continue };
        let username = username_of(person, unit, &mut plan);
        let account = NewStaffAccount {
            username: username.clone().unwrap_or_default(),
            kind: AccountKind::Staff,
            tenant: unit.path.clone(),
            line: line.clone(),
            profile: StaffProfile {
                display_name: person.name.clone(),
                phone: person.phone.clone(),
                email: person.email.clone(),
                employee_no: (!person.employee_no.is_empty()).then(|| person.employee_no.clone()),
                position: person.position.clone(),
            },
        };
        for error in check_new_account(&account, &unit.lines) {
            // The unit and the line were judged above; a missing username
            // was named where it was derived.
            if error.field == "line" && line.is_none() || error.field == "username" {
                continue;
            }
            if let Some(column) = column_of(&error) {
                plan.problem(row, column, error.message_zh, error.message_en);
            }
        }
        if person.employee_no.is_empty() && !person.unreadable.contains(&Column::EmployeeNo) {
            plan.problem(
                row,
                Column::EmployeeNo,
                "工号不能为空".into(),
                "The employee number is empty".into(),
            );
        }
        if !person.employee_no.is_empty() {
            let key = (unit.path.clone(), person.employee_no.clone());
            if let Some(first) = numbers.get(&key) {
                plan.problem(
                    row,
                    Column::EmployeeNo,
                    format!("工号 {} 与第 {first} 行重复", person.employee_no),
                    format!(
                        "The employee number {} repeats row {first}",
                        person.employee_no
                    ),
                );
            } else {
                numbers.insert(key, row);
            }
        }
        if let Some(name) = &username {
            if let Some(first) = usernames.get(name) {
                plan.problem(
                    row,
                    Column::Username,
                    format!("用户名 {name} 与第 {first} 行重复"),
                    format!("The username {name} repeats row {first}"),
                );
            } else {
                usernames.insert(name.clone(), row);
            }
        }
        if plan.problems.len() == before {
            plan.accounts.push(PlannedAccount { row, account });
        }
    }
    plan
}

fn column_of(error: &FieldError) -> Option<Column> {
    Some(match error.field {
        "display_name" => Column::Name,
        "employee_no" => Column::EmployeeNo,
        "line" => Column::Line,
        "position" => Column::Position,
        "phone" => Column::Phone,
        "email" => Column::Email,
        "username" => Column::Username,
        _ => return None,
    })
}

fn find_unit<'u>(
    person: &RosterRow,
    units: &'u [ImportUnit],
    plan: &mut ImportPlan,
) -> Option<&'u ImportUnit> {
    let text = person.unit.trim().trim_matches('/');
    if text.is_empty() {
        if !person.unreadable.contains(&Column::Unit) {
            plan.problem(
                person.row,
                Column::Unit,
                "所属单位不能为空".into(),
                "The unit is empty".into(),
            );
        }
        return None;
    }
    let found: Vec<&ImportUnit> = units
        .iter()
        .filter(|u| {
            u.name == text || u.code == text || u.path.as_str() == text || u.slug_path == text
        })
        .collect();
    match found.as_slice() {
        [unit] => Some(unit),
        [] => {
            plan.problem(
                person.row,
                Column::Unit,
                format!("所属单位“{text}”不在本次导入的租户范围内（可写单位全称、区划代码或路径）"),
                format!(
                    "No unit \"{text}\" in the importing tenant's subtree (give its full name, code or path)"
                ),
            );
            None
        }
        several => {
            let codes: Vec<&str> = several.iter().map(|u| u.code.as_str()).collect();
            plan.problem(
                person.row,
                Column::Unit,
                format!(
                    "所属单位“{text}”有重名（{}），请改写区划代码",
                    codes.join("、")
                ),
                format!(
                    "More than one unit is named \"{text}\" ({}); give its code",
                    codes.join(", ")
                ),
            );
            None
        }
    }
}

fn find_line(person: &RosterRow, lines: &[Line], plan: &mut ImportPlan) -> Option<String> {
    let text = person.line.trim();
    if text.is_empty() {
        if !person.unreadable.contains(&Column::Line) {
            plan.problem(
                person.row,
                Column::Line,
                "条线不能为空".into(),
                "The line is empty".into(),
            );
        }
        return None;
    }
    if let Some(line) = lines.iter().find(|l| l.is_named(text)) {
        return Some(line.code.clone());
    }
    if lines.is_empty() {
        // No definitions to translate names with: the cell must be a code,
        // and check_new_account holds it to the unit's lines.
        return Some(text.to_owned());
    }
    let known: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    plan.problem(
        person.row,
        Column::Line,
        format!("没有条线“{text}”（可选：{}）", known.join("、")),
        format!(
            "No line \"{text}\" (known: {})",
            lines
                .iter()
                .map(|l| l.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    None
}

fn username_of(person: &RosterRow, unit: &ImportUnit, plan: &mut ImportPlan) -> Option<String> {
    if let Some(name) = &person.username {
        if crate::valid_new_username(name) {
            return Some(name.clone());
        }
        plan.problem(
            person.row,
            Column::Username,
            format!("用户名须为 3–64 个小写字母、数字或 -_.，以字母或数字开头，且不能是 export：{name}"),
            format!(
                "A username is 3–64 lowercase letters, digits or -_., starting with a letter or digit, and not `export`: {name}"
            ),
        );
        return None;
    }
    if person.employee_no.is_empty() {
        return None;
    }
    let derived = format!("{}.{}", unit.slug, person.employee_no.to_ascii_lowercase());
    if valid_username(&derived) {
        Some(derived)
    } else if derived.len() > 64 {
        plan.problem(
            person.row,
            Column::Username,
            format!("由单位和工号生成的用户名 {derived} 超过 64 个字符，请增加“用户名”列"),
            format!(
                "The username made from unit and employee number, {derived}, is over 64 characters; add a 用户名 column"
            ),
        );
        None
    } else {
        // The employee number itself is invalid; that is named already.
        None
    }
}

/// Adds to `plan` the rows whose username or (unit, employee number) an
/// existing account holds.
pub async fn check_taken(db: &Database, plan: &mut ImportPlan) -> Result<(), AdminError> {
    let usernames: Vec<String> = plan
        .accounts
        .iter()
        .map(|p| p.account.username.clone())
        .collect();
    let numbers: Vec<(String, String)> = plan
        .accounts
        .iter()
        .filter_map(|p| {
            p.account
                .profile
                .employee_no
                .clone()
                .map(|no| (p.account.tenant.as_str().to_owned(), no))
        })
        .collect();
    let (taken_names, taken_numbers) = taken(db, &usernames, &numbers).await?;
    if taken_names.is_empty() && taken_numbers.is_empty() {
        return Ok(());
    }
    let mut clashing = Vec::new();
    for planned in &plan.accounts {
        let account = &planned.account;
        if taken_names.contains(&account.username) {
            clashing.push(username_taken(planned.row, &account.username));
        }
        if let Some(no) = &account.profile.employee_no
            && taken_numbers.contains(&(account.tenant.as_str().to_owned(), no.clone()))
        {
            clashing.push(employee_no_taken(planned.row, no));
        }
    }
    let bad: Vec<u32> = clashing.iter().map(|p| p.row).collect();
    plan.accounts.retain(|p| !bad.contains(&p.row));
    plan.problems.extend(clashing);
    plan.problems.sort_by_key(|p| p.row);
    Ok(())
}

/// Creates every account of `plan` in one transaction, audited one by one
/// as `account.create` and as one `account.import` (rows and the file's
/// SM3 digest) at the importing tenant — or nothing: a plan with problems,
/// or a row that turns out taken meanwhile, is refused whole.
#[allow(clippy::too_many_arguments)]
pub async fn import_staff(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    importing_tenant: &TenantPath,
    plan: &ImportPlan,
    file_digest: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ImportedAccount>, ImportError> {
    if !plan.problems.is_empty() {
        return Err(ImportError::Refused(plan.problems.clone()));
    }
    if !scope.covers(importing_tenant) {
        return Err(AdminError::OutOfScope(importing_tenant.to_string()).into());
    }
    let accounts: Vec<NewStaffAccount> = plan.accounts.iter().map(|p| p.account.clone()).collect();
    let summary = civitas_audit::NewEvent {
        actor: actor.to_owned(),
        action: "account.import".to_owned(),
        target: format!("tenant:{importing_tenant}"),
        detail: serde_json::json!({
            "accounts": accounts.len(),
            "file_sm3": file_digest,
        }),
    };
    let passwords = match insert_all(
        db,
        keyring,
        scope,
        &accounts,
        actor,
        now,
        (importing_tenant, summary),
    )
    .await
    {
        Ok(passwords) => passwords,
        Err((i, error)) => {
            let row = plan.accounts.get(i).map_or(0, |p| p.row);
            return Err(match error {
                AdminError::UsernameTaken(name) => {
                    ImportError::Refused(vec![username_taken(row, &name)])
                }
                AdminError::EmployeeNoTaken { employee_no, .. } => {
                    ImportError::Refused(vec![employee_no_taken(row, &employee_no)])
                }
                other => ImportError::Admin(other),
            });
        }
    };
    Ok(plan
        .accounts
        .iter()
        .zip(passwords)
        .filter_map(|(p, otp)| {
            otp.map(|one_time_password| ImportedAccount {
                row: p.row,
                username: p.account.username.clone(),
                one_time_password,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> Vec<ImportUnit> {
        let unit = |path: &str, name: &str, slug: &str, lines: &[&str]| ImportUnit {
            path: TenantPath::parse(path).unwrap(),
            code: path.rsplit('/').next().unwrap().to_owned(),
            name: name.into(),
            slug: slug.into(),
            slug_path: format!("shanghai/pudong/{slug}"),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        };
        vec![
            unit(
                "310000/310115/310115009",
                "花木街道",
                "huamu",
                &["civil-affairs", "hr-social-security"],
            ),
            unit(
                "310000/310115/310115005",
                "陆家嘴街道",
                "lujiazui",
                &["civil-affairs"],
            ),
        ]
    }

    fn lines() -> Vec<Line> {
        vec![
            Line {
                code: "civil-affairs".into(),
                name: "民政".into(),
                name_en: "Civil affairs".into(),
                aliases: vec![],
            },
            Line {
                code: "hr-social-security".into(),
                name: "人力资源和社会保障".into(),
                name_en: "Human resources and social security".into(),
                aliases: vec!["人社".into()],
            },
        ]
    }

    fn roster(text: &str) -> Roster {
        civitas_roster::read(text.as_bytes(), civitas_roster::Format::Csv).unwrap()
    }

    #[test]
    fn good_rows_become_staff_accounts_at_their_unit_with_derived_usernames() {
        let plan = plan_import(
            &roster(
                "姓名,工号,所属单位,条线,岗位/角色,手机\n\
                 王芳,HM-0001,花木街道,民政,民政专员,13800138000\n\
                 李强,LJZ-7,310115005,civil-affairs,,\n\
                 赵敏,HM-0002,shanghai/pudong/huamu,人社,窗口,\n",
            ),
            &units(),
            &lines(),
        );
        assert_eq!(plan.problems, []);
        let names: Vec<(&str, &str, Option<&str>)> = plan
            .accounts
            .iter()
            .map(|p| {
                (
                    p.account.username.as_str(),
                    p.account.tenant.as_str(),
                    p.account.line.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "huamu.hm-0001",
                    "310000/310115/310115009",
                    Some("civil-affairs")
                ),
                (
                    "lujiazui.ljz-7",
                    "310000/310115/310115005",
                    Some("civil-affairs")
                ),
                (
                    "huamu.hm-0002",
                    "310000/310115/310115009",
                    Some("hr-social-security")
                ),
            ]
        );
        assert_eq!(
            plan.accounts[0].account.profile.position.as_deref(),
            Some("民政专员")
        );
        assert_eq!(plan.accounts[0].account.kind, AccountKind::Staff);
    }

    #[test]
    fn every_bad_row_is_named_with_its_column_and_good_rows_stay_planned() {
        let plan = plan_import(
            &roster(
                "姓名,工号,所属单位,条线,岗位/角色,手机\n\
                 王芳,HM-0001,花木街道,民政,,13800138000\n\
                 ,HM-0003,花木街道,民政,,\n\
                 李强,HM-0004,张江镇,民政,,\n\
                 赵敏,HM-0005,陆家嘴街道,人社,,\n\
                 钱进,HM-0006,花木街道,民政,,12345\n\
                 孙丽,HM-0001,花木街道,民政,,\n\
                 周洋,工号一,花木街道,民政,,\n",
            ),
            &units(),
            &lines(),
        );
        assert_eq!(plan.bad_rows(), [3, 4, 5, 6, 7, 8]);
        assert_eq!(plan.accounts.len(), 1);
        let by_row = |row: u32| -> Vec<Option<&str>> {
            plan.problems
                .iter()
                .filter(|p| p.row == row)
                .map(|p| p.column)
                .collect()
        };
        assert_eq!(by_row(3), [Some("姓名")]);
        assert_eq!(by_row(4), [Some("所属单位")]);
        // Lujiazui has no human-resources line.
        assert_eq!(by_row(5), [Some("条线")]);
        assert_eq!(by_row(6), [Some("手机")]);
        assert_eq!(by_row(7), [Some("工号"), Some("用户名")]);
        assert!(
            plan.problems.iter().any(|p| p.row == 7
                && p.column == Some("工号")
                && p.message_zh.contains("第 2 行"))
        );
        assert_eq!(by_row(8), [Some("工号")]);
    }

    #[test]
    fn an_ambiguous_unit_name_asks_for_the_code() {
        let mut units = units();
        let mut twin = units[0].clone();
        twin.path = TenantPath::parse("310000/310104/310104099").unwrap();
        twin.code = "310104099".into();
        units.push(twin);
        let plan = plan_import(
            &roster("姓名,工号,所属单位,条线\n王芳,1,花木街道,民政\n王芳,2,310104099,民政\n"),
            &units,
            &lines(),
        );
        assert_eq!(plan.bad_rows(), [2]);
        assert!(plan.problems[0].message_zh.contains("310115009"));
        assert_eq!(plan.accounts[0].account.tenant.code(), "310104099");
    }

    #[test]
    fn a_username_column_overrides_the_derived_name_and_is_checked() {
        let plan = plan_import(
            &roster(
                "姓名,工号,所属单位,条线,用户名\n\
                 王芳,1,花木街道,民政,wangfang\n\
                 李强,2,花木街道,民政,Li Qiang\n\
                 赵敏,3,花木街道,民政,\n",
            ),
            &units(),
            &lines(),
        );
        assert_eq!(plan.bad_rows(), [3]);
        assert_eq!(plan.problems[0].column, Some("用户名"));
        assert_eq!(plan.accounts[0].account.username, "wangfang");
        assert_eq!(plan.accounts[1].account.username, "huamu.3");
    }
}
