//! 安薪 — the wage-arrears warning rules of seed 000 (Shanghai human
//! resources and social security, 精准预警, L206–361) over one project's
//! month of monitoring data, shared by the city's module and the districts'
//! variants.
//!
//! Each rule is a function of the project-month ([`ProjectMonth`]) and the
//! tenant's thresholds ([`Thresholds`], from its settings: the one host call
//! here). The rules look at the project as of the last day of its month
//! ([`ProjectMonth::as_of`]), not at the day the batch runs, so that running
//! a month again gives the same warnings. Tested natively
//! (`cargo test --manifest-path modules/Cargo.toml -p wage-arrears-rules`;
//! `infra/dev/test` runs it).

use civitas_module::{Context, Date, ModuleError};
use serde::{Deserialize, Serialize};

/// What a project is (项目类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjectType {
    /// 工程建设: construction, where most arrears arise.
    Construction,
    /// 其他: any other employer project.
    Other,
}

/// Where a project stands (项目状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// 在建.
    InProgress,
    /// 停工.
    Stopped,
    /// 完工.
    Completed,
}

/// One project's month of monitoring data (the service's input schema,
/// `tenants/_services/hr-social-security/wage-arrears-warning`): what the
/// wage account, the attendance system, the deposit register and the
/// complaints desk recorded. Amounts are whole yuan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectMonth {
    /// 项目编号.
    pub project_code: String,
    /// 项目名称.
    pub project_name: String,
    /// 所属区划: the division code the project is registered at.
    pub place: String,
    /// 项目类型.
    pub project_type: ProjectType,
    /// 项目状态.
    pub status: Status,
    /// 数据月份, `YYYY-MM`.
    pub month: String,
    /// 实际开工日期.
    pub actual_start_on: String,
    /// 在职人数.
    pub headcount: u32,
    /// 有考勤记录的在职人数.
    pub attended: u32,
    /// 工资专用账户 open (not every account closed).
    pub wage_account_open: bool,
    /// 本月人工费拨入（元）.
    pub labour_cost_in_yuan: u64,
    /// 本月代发工资（元）.
    pub wages_paid_yuan: u64,
    /// 最近一次代发工资日期, none when wages were never paid through the
    /// account.
    #[serde(default)]
    pub last_wages_paid_on: Option<String>,
    /// 本月欠薪投诉件数.
    #[serde(default)]
    pub complaints: u32,
    /// 应缴工资保证金（元）.
    #[serde(default)]
    pub deposit_due_yuan: u64,
    /// 实缴工资保证金（元）.
    #[serde(default)]
    pub deposit_paid_yuan: u64,
    /// 免除保证金.
    #[serde(default)]
    pub deposit_exempt: bool,
    /// 保函/保单有效截止日期.
    #[serde(default)]
    pub deposit_expires_on: Option<String>,
    /// The case or batch (set by the platform; not read).
    #[serde(default)]
    pub case_id: Option<String>,
}

/// A day count: days since 1970-01-01 (proleptic Gregorian), for
/// differences between dates.
pub fn day_number(date: Date) -> i64 {
    // Howard Hinnant's days_from_civil.
    let (y, m, d) = (
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A date that is a real calendar day (`Date::parse` checks only ranges).
fn real_date(text: &str, field: &str) -> Result<Date, ModuleError> {
    Date::parse(text)
        .filter(|d| d.day <= days_in_month(d.year, d.month))
        .ok_or_else(|| ModuleError::invalid_input(format!("{field}: {text:?} is not a date")))
}

impl ProjectMonth {
    /// The last day of the data's month: the day the rules look at the
    /// project as of.
    pub fn as_of(&self) -> Result<Date, ModuleError> {
        let bad = || ModuleError::invalid_input(format!("month: {:?} is not YYYY-MM", self.month));
        let (year, month) = self.month.split_once('-').ok_or_else(bad)?;
        let (year, month): (u16, u8) = (
            year.parse().map_err(|_| bad())?,
            month.parse().map_err(|_| bad())?,
        );
        if !(1..=12).contains(&month) || year < 1900 {
            return Err(bad());
        }
        Ok(Date {
            year,
            month,
            day: days_in_month(year, month),
        })
    }

    /// Months from the month of actual start to the data's month: 0 in the
    /// start month, 1 in the second month (第二个月), …; negative when the
    /// data predates the start.
    pub fn months_since_start(&self) -> Result<i64, ModuleError> {
        let start = real_date(&self.actual_start_on, "actual_start_on")?;
        let as_of = self.as_of()?;
        Ok((i64::from(as_of.year) * 12 + i64::from(as_of.month))
            - (i64::from(start.year) * 12 + i64::from(start.month)))
    }

    /// Days without wages paid through the wage account at the end of the
    /// month: since the last payout, or since the actual start when none.
    pub fn unpaid_days(&self) -> Result<i64, ModuleError> {
        let since = match &self.last_wages_paid_on {
            Some(paid) => real_date(paid, "last_wages_paid_on")?,
            None => real_date(&self.actual_start_on, "actual_start_on")?,
        };
        Ok((day_number(self.as_of()?) - day_number(since)).max(0))
    }

    fn active(&self) -> bool {
        matches!(self.status, Status::InProgress | Status::Stopped)
    }
}

/// A tenant's thresholds (阈值, L236: each with its 区域范围 — here the
/// tenant whose settings set it). Keys `wage-arrears.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Days without wages paid before a construction project is warned.
    pub unpaid_days_construction: u32,
    /// Likewise for any other project.
    pub unpaid_days_other: u32,
    /// Attendance coverage below this percentage warns (L281: 10 %).
    pub attendance_coverage_percent: u32,
    /// A deposit guarantee expiring within this many days warns (L316: 60).
    pub deposit_expiring_days: u32,
    /// This many complaints in a month warn.
    pub complaints_per_month: u32,
}

fn threshold(ctx: &Context, key: &str, max: u32) -> Result<u32, ModuleError> {
    let value: u64 = ctx
        .setting(key)?
        .ok_or_else(|| ModuleError::new("missing_setting", format!("no tenant sets {key}")))?;
    u32::try_from(value)
        .ok()
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| {
            ModuleError::new(
                "invalid_setting",
                format!("{key} is {value}; it must be 1–{max}"),
            )
        })
}

/// The tenant's thresholds from its settings (every key required).
pub fn thresholds(ctx: &Context) -> Result<Thresholds, ModuleError> {
    Ok(Thresholds {
        unpaid_days_construction: threshold(ctx, "wage-arrears.unpaid-days.construction", 366)?,
        unpaid_days_other: threshold(ctx, "wage-arrears.unpaid-days.other", 366)?,
        attendance_coverage_percent: threshold(
            ctx,
            "wage-arrears.attendance-coverage-percent",
            100,
        )?,
        deposit_expiring_days: threshold(ctx, "wage-arrears.deposit-expiring-days", 366)?,
        complaints_per_month: threshold(ctx, "wage-arrears.complaints-per-month", 1000)?,
    })
}

/// A warning's level (预警等级; seed L216 names four levels, not their
/// names: these are the four colours Chinese early-warning systems use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 红色: the most serious.
    Red,
    /// 橙色.
    Orange,
    /// 黄色.
    Yellow,
    /// 蓝色.
    Blue,
}

/// One warning a project-month fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The rule's stable code, e.g. `wages-not-paid`.
    pub rule: &'static str,
    /// The risk point's name (风险点).
    pub name: &'static str,
    /// Its level.
    pub level: Level,
    /// Why, with the figures, in Chinese.
    pub reason: String,
}

/// The answer for one project-month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The project.
    pub project_code: String,
    /// The data's month.
    pub month: String,
    /// The day the rules looked at the project as of.
    pub as_of: String,
    /// Whose rule set decided: `city`, or the district's.
    pub rule_set: &'static str,
    /// Every warning fired, most serious first.
    pub warnings: Vec<Warning>,
}

/// Which projects the unpaid-wages rule watches: the city's rule (L336)
/// watches projects in progress; a district may watch stopped ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpaidWatch {
    /// 在建 only (L336).
    InProgress,
    /// 在建 and 停工.
    InProgressAndStopped,
}

/// Runs every rule over `project` with `thresholds`; `watch` chooses which
/// projects the unpaid-wages rule looks at and `rule_set` names whose rules
/// these are in the answer.
pub fn assess(
    project: &ProjectMonth,
    thresholds: &Thresholds,
    watch: UnpaidWatch,
    rule_set: &'static str,
) -> Result<Assessment, ModuleError> {
    let as_of = project.as_of()?;
    let months = project.months_since_start()?;
    let mut warnings = Vec::new();
    if project.attended > project.headcount {
        return Err(ModuleError::invalid_input(format!(
            "attended ({}) exceeds headcount ({})",
            project.attended, project.headcount
        )));
    }
    // L326: every wage account closed (or none opened).
    if project.active() && !project.wage_account_open {
        warnings.push(Warning {
            rule: "wage-account-not-opened",
            name: "未开立工资专用账户",
            level: Level::Orange,
            reason: "在建或停工项目无有效工资专用账户".into(),
        });
    }
    // L331: from the second month after the actual start, labour costs
    // must come into the wage account every month.
    if project.status == Status::InProgress && months >= 1 && project.labour_cost_in_yuan == 0 {
        warnings.push(Warning {
            rule: "labour-cost-not-deposited",
            name: "未按月拨入人工费",
            level: Level::Orange,
            reason: format!("开工第 {} 个月，工资专用账户本月无人工费拨入", months + 1),
        });
    }
    // L336: wages paid out through the account (代发工资); the threshold
    // in days is the tenant's, per project type.
    let watched = match watch {
        UnpaidWatch::InProgress => project.status == Status::InProgress,
        UnpaidWatch::InProgressAndStopped => project.active(),
    };
    if watched && months >= 1 {
        let unpaid = project.unpaid_days()?;
        let limit = match project.project_type {
            ProjectType::Construction => thresholds.unpaid_days_construction,
            ProjectType::Other => thresholds.unpaid_days_other,
        };
        if unpaid > i64::from(limit) {
            warnings.push(Warning {
                rule: "wages-not-paid",
                name: "未及时发放工资",
                level: Level::Red,
                reason: format!(
                    "截至 {as_of} 已 {unpaid} 天无代发工资记录（阈值 {limit} 天）",
                    as_of = date_text(as_of)
                ),
            });
        }
    }
    // L281: attendance coverage = in-service people with attendance ÷
    // in-service headcount.
    if project.active()
        && project.headcount > 0
        && u64::from(project.attended) * 100
            < u64::from(thresholds.attendance_coverage_percent) * u64::from(project.headcount)
    {
        warnings.push(Warning {
            rule: "attendance-coverage-low",
            name: "考勤覆盖率过低",
            level: Level::Yellow,
            reason: format!(
                "考勤覆盖率 {}/{}，低于 {}%",
                project.attended, project.headcount, thresholds.attendance_coverage_percent
            ),
        });
    }
    // L301: deposit paid below what is due, unless exempted.
    if project.active()
        && !project.deposit_exempt
        && project.deposit_paid_yuan < project.deposit_due_yuan
    {
        warnings.push(Warning {
            rule: "deposit-short",
            name: "保证金缴纳金额不足",
            level: Level::Orange,
            reason: format!(
                "实缴 {} 元，应缴 {} 元",
                project.deposit_paid_yuan, project.deposit_due_yuan
            ),
        });
    }
    // L311 / L316: the guarantee's end date past, or within the window.
    if project.active()
        && !project.deposit_exempt
        && let Some(expires) = &project.deposit_expires_on
    {
        let left = day_number(real_date(expires, "deposit_expires_on")?) - day_number(as_of);
        if left < 0 {
            warnings.push(Warning {
                rule: "deposit-expired",
                name: "保证金超期",
                level: Level::Red,
                reason: format!("保函/保单已于 {expires} 到期"),
            });
        } else if left < i64::from(thresholds.deposit_expiring_days) {
            warnings.push(Warning {
                rule: "deposit-expiring",
                name: "保证金临期",
                level: Level::Blue,
                reason: format!(
                    "保函/保单 {expires} 到期，距 {} 仅 {left} 天（阈值 {} 天）",
                    date_text(as_of),
                    thresholds.deposit_expiring_days
                ),
            });
        }
    }
    // Complaints about unpaid wages in the month (illustrative: the seed
    // takes complaints in as leads, L156, and names no threshold).
    if project.complaints >= thresholds.complaints_per_month {
        warnings.push(Warning {
            rule: "complaints",
            name: "欠薪投诉集中",
            level: Level::Orange,
            reason: format!(
                "本月欠薪投诉 {} 件（阈值 {} 件）",
                project.complaints, thresholds.complaints_per_month
            ),
        });
    }
    warnings.sort_by_key(|w| w.level);
    Ok(Assessment {
        project_code: project.project_code.clone(),
        month: project.month.clone(),
        as_of: date_text(as_of),
        rule_set,
        warnings,
    })
}

/// `YYYY-MM-DD`.
pub fn date_text(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CITY: Thresholds = Thresholds {
        unpaid_days_construction: 60,
        unpaid_days_other: 60,
        attendance_coverage_percent: 10,
        deposit_expiring_days: 60,
        complaints_per_month: 3,
    };

    fn project(extra: serde_json::Value) -> ProjectMonth {
        let mut base = serde_json::json!({
            "project_code": "P-1", "project_name": "某某项目", "place": "310115",
            "project_type": "construction", "status": "in-progress", "month": "2026-11",
            "actual_start_on": "2026-08-10", "headcount": 100, "attended": 90,
            "wage_account_open": true, "labour_cost_in_yuan": 500000, "wages_paid_yuan": 480000,
            "last_wages_paid_on": "2026-11-15", "complaints": 0,
            "deposit_due_yuan": 300000, "deposit_paid_yuan": 300000, "deposit_exempt": false,
            "deposit_expires_on": "2027-12-31"
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn rules(a: &Assessment) -> Vec<&'static str> {
        a.warnings.iter().map(|w| w.rule).collect()
    }

    #[test]
    fn a_project_in_order_fires_nothing() {
        let a = assess(
            &project(serde_json::json!({})),
            &CITY,
            UnpaidWatch::InProgress,
            "city",
        )
        .unwrap();
        assert_eq!(a.as_of, "2026-11-30");
        assert!(a.warnings.is_empty(), "{a:?}");
    }

    #[test]
    fn wages_unpaid_past_the_threshold_fire_from_the_second_month() {
        // 2026-09-20 to 2026-11-30: 71 days.
        let late = project(serde_json::json!({"last_wages_paid_on": "2026-09-20"}));
        assert_eq!(late.unpaid_days().unwrap(), 71);
        let a = assess(&late, &CITY, UnpaidWatch::InProgress, "city").unwrap();
        assert_eq!(rules(&a), ["wages-not-paid"]);
        assert!(
            a.warnings[0].reason.contains("71 天"),
            "{}",
            a.warnings[0].reason
        );
        // 45 days is within the city's 60 but past a district's 30.
        let p = project(serde_json::json!({"last_wages_paid_on": "2026-10-16"}));
        assert!(
            assess(&p, &CITY, UnpaidWatch::InProgress, "city")
                .unwrap()
                .warnings
                .is_empty()
        );
        let district = Thresholds {
            unpaid_days_construction: 30,
            ..CITY
        };
        assert_eq!(
            rules(&assess(&p, &district, UnpaidWatch::InProgress, "d").unwrap()),
            ["wages-not-paid"]
        );
        // In the start month nothing is due yet.
        let new = project(
            serde_json::json!({"actual_start_on": "2026-11-02", "last_wages_paid_on": null}),
        );
        assert!(
            assess(&new, &district, UnpaidWatch::InProgress, "d")
                .unwrap()
                .warnings
                .is_empty()
        );
        // Never paid: counted from the actual start.
        let never = project(serde_json::json!({"last_wages_paid_on": null}));
        assert_eq!(never.unpaid_days().unwrap(), 112);
    }

    #[test]
    fn stopped_projects_are_watched_for_unpaid_wages_only_where_the_district_says() {
        let stopped = project(
            serde_json::json!({"status": "stopped", "last_wages_paid_on": "2026-08-20", "labour_cost_in_yuan": 0}),
        );
        assert!(
            assess(&stopped, &CITY, UnpaidWatch::InProgress, "city")
                .unwrap()
                .warnings
                .is_empty()
        );
        let a = assess(&stopped, &CITY, UnpaidWatch::InProgressAndStopped, "pudong").unwrap();
        assert_eq!(rules(&a), ["wages-not-paid"]);
    }

    #[test]
    fn attendance_coverage_below_the_threshold_fires() {
        let p = project(serde_json::json!({"headcount": 200, "attended": 19}));
        assert_eq!(
            rules(&assess(&p, &CITY, UnpaidWatch::InProgress, "city").unwrap()),
            ["attendance-coverage-low"]
        );
        let p = project(serde_json::json!({"headcount": 200, "attended": 20}));
        assert!(
            assess(&p, &CITY, UnpaidWatch::InProgress, "city")
                .unwrap()
                .warnings
                .is_empty()
        );
        let p = project(serde_json::json!({"headcount": 10, "attended": 11}));
        assert!(assess(&p, &CITY, UnpaidWatch::InProgress, "city").is_err());
    }

    #[test]
    fn deposits_short_expired_or_expiring_fire_and_exemption_silences_them() {
        let p = project(
            serde_json::json!({"deposit_paid_yuan": 100000, "deposit_expires_on": "2026-11-20"}),
        );
        assert_eq!(
            rules(&assess(&p, &CITY, UnpaidWatch::InProgress, "city").unwrap()),
            ["deposit-expired", "deposit-short"]
        );
        let p = project(serde_json::json!({"deposit_expires_on": "2027-01-15"}));
        assert_eq!(
            rules(&assess(&p, &CITY, UnpaidWatch::InProgress, "city").unwrap()),
            ["deposit-expiring"]
        );
        let p = project(
            serde_json::json!({"deposit_exempt": true, "deposit_paid_yuan": 0, "deposit_expires_on": "2026-01-01"}),
        );
        assert!(
            assess(&p, &CITY, UnpaidWatch::InProgress, "city")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn accounts_labour_costs_and_complaints_fire_most_serious_first() {
        let p = project(
            serde_json::json!({"wage_account_open": false, "labour_cost_in_yuan": 0, "complaints": 3, "last_wages_paid_on": "2026-09-01"}),
        );
        let a = assess(&p, &CITY, UnpaidWatch::InProgress, "city").unwrap();
        assert_eq!(
            rules(&a),
            [
                "wages-not-paid",
                "wage-account-not-opened",
                "labour-cost-not-deposited",
                "complaints"
            ]
        );
    }

    #[test]
    fn completed_projects_and_impossible_dates() {
        let done = project(
            serde_json::json!({"status": "completed", "wage_account_open": false, "last_wages_paid_on": null}),
        );
        assert!(
            assess(&done, &CITY, UnpaidWatch::InProgressAndStopped, "x")
                .unwrap()
                .warnings
                .is_empty()
        );
        for bad in [
            serde_json::json!({"month": "2026-13"}),
            serde_json::json!({"actual_start_on": "2026-02-30"}),
        ] {
            assert!(assess(&project(bad), &CITY, UnpaidWatch::InProgress, "city").is_err());
        }
    }

    #[test]
    fn day_numbers_count_leap_years() {
        let d = |y, m, d| {
            day_number(Date {
                year: y,
                month: m,
                day: d,
            })
        };
        assert_eq!(d(1970, 1, 1), 0);
        assert_eq!(d(2024, 3, 1) - d(2024, 2, 28), 2);
        assert_eq!(d(2026, 3, 1) - d(2026, 2, 28), 1);
    }
}
