//! The official Chinese working-day calendar and deadline arithmetic.
//!
//! Government deadlines are counted in working days (工作日) on the calendar
//! the State Council publishes each year: public holidays are off, and some
//! weekend days become working days (调休). The data lives in
//! `tenants/_reference/holidays.toml` (one block per year, each naming its
//! notice); [`Calendar::load`] reads and validates it, and refuses to answer
//! for a date outside the years it covers rather than guess.
//!
//! A tenant may add local non-working days ([`Calendar::with_local_days`]).
//!
//! ```
//! use chrono::NaiveDate;
//! use civitas_calendar::Calendar;
//!
//! let calendar = Calendar::official()?;
//! let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
//! // 2025-09-30 (Tue) + 1 working day: 10-01..08 are the National Day
//! // holiday, 10-09 (Thu) is the next working day.
//! assert_eq!(calendar.add_working_days(day("2025-09-30"), 1)?, day("2025-10-09"));
//! // 2025-10-11 is a Saturday worked in exchange (调休).
//! assert!(calendar.is_working_day(day("2025-10-11"))?);
//! # Ok::<(), civitas_calendar::CalendarError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The shipped calendar file, so that a binary and the tests agree with
/// `tenants/_reference/holidays.toml` without a path.
pub const OFFICIAL: &str = include_str!("../../../tenants/_reference/holidays.toml");

/// The longest deadline the arithmetic accepts, in days of either unit: far
/// beyond any statutory limit, small enough that a typo cannot spin.
pub const MAX_DAYS: u32 = 3_660;

/// Why a calendar cannot be loaded or cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The file cannot be read.
    #[error("无法读取节假日文件 {path} (cannot read the holiday file): {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The file is not a valid calendar; every problem is listed.
    #[error("节假日文件 {origin} 无效 (the holiday file is invalid):\n{}", problems.join("\n"))]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// Each problem, naming the year and holiday.
        problems: Vec<String>,
    },
    /// A date outside the years the calendar covers.
    #[error(
        "日历未覆盖 {date}（覆盖 {first}–{last} 年），请更新节假日文件 (the calendar covers {first}–{last}, not {date}; update the holiday file)"
    )]
    NotCovered {
        /// The date asked about.
        date: NaiveDate,
        /// The first covered year.
        first: i32,
        /// The last covered year.
        last: i32,
    },
    /// A count beyond [`MAX_DAYS`].
    #[error("天数 {0} 超出上限 {MAX_DAYS} (a count of {0} days is beyond the limit of {MAX_DAYS})")]
    TooManyDays(u32),
}

/// How a deadline counts days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayUnit {
    /// 工作日: working days on the calendar.
    Working,
    /// 自然日: calendar days.
    Natural,
}

impl DayUnit {
    /// `working` or `natural`.
    pub fn as_str(self) -> &'static str {
        match self {
            DayUnit::Working => "working",
            DayUnit::Natural => "natural",
        }
    }

    /// The unit named `text`.
    pub fn parse(text: &str) -> Option<DayUnit> {
        match text {
            "working" => Some(DayUnit::Working),
            "natural" => Some(DayUnit::Natural),
            _ => None,
        }
    }
}

/// Whether a year's dates come from its published notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YearStatus {
    /// Copied from the year's State Council notice.
    Official,
    /// The statutory days only: the notice is not out yet.
    Statutory,
}

/// One covered year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Year {
    /// The year.
    pub year: i32,
    /// Official or provisional.
    pub status: YearStatus,
    /// The notice (or law) its dates come from.
    pub notice: String,
    /// When that was published.
    pub published: String,
    /// Its holidays.
    pub holidays: Vec<Holiday>,
}

/// One holiday of a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holiday {
    /// Its Chinese name.
    pub name: String,
    /// Its English name.
    pub name_en: String,
    /// The days off.
    pub off: Vec<NaiveDate>,
    /// The weekend days worked in exchange (调休).
    pub work: Vec<NaiveDate>,
}

/// The working-day calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    years: Vec<Year>,
    first: i32,
    last: i32,
    /// Weekdays that are not worked: holidays and local days.
    off: BTreeSet<NaiveDate>,
    /// Weekend days that are worked.
    work: BTreeSet<NaiveDate>,
    /// Which holiday each official off day belongs to.
    names: BTreeMap<NaiveDate, (String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    year: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    status: YearStatus,
    notice: String,
    published: String,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    name_en: String,
    off: Vec<String>,
    #[serde(default)]
    work: Vec<String>,
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `YYYY-MM-DD` or an inclusive range `A..B`.
fn expand(text: &str) -> Result<Vec<NaiveDate>, String> {
    let parse = |s: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("“{s}” 不是 YYYY-MM-DD 日期 (not a YYYY-MM-DD date)"))
    };
    match text.split_once("..") {
        None => Ok(vec![parse(text)?]),
        Some((from, to)) => {
            let (from, to) = (parse(from)?, parse(to)?);
            if to < from || (to - from).num_days() > 31 {
                return Err(format!(
                    "区间 “{text}” 无效 (the range must run forwards and span at most a month)"
                ));
            }
            Ok(from.iter_days().take_while(|d| *d <= to).collect())
        }
    }
}

impl Calendar {
    /// The calendar shipped with the platform ([`OFFICIAL`]).
    pub fn official() -> Result<Calendar, CalendarError> {
        Calendar::parse(OFFICIAL, "tenants/_reference/holidays.toml")
    }

    /// The calendar of a tenants directory: `DIR/_reference/holidays.toml`
    /// when present, else the shipped one.
    pub fn for_tenants_dir(dir: &Path) -> Result<Calendar, CalendarError> {
        let file = dir.join("_reference/holidays.toml");
        if file.exists() {
            Calendar::load(&file)
        } else {
            Calendar::official()
        }
    }

    /// Reads and validates the calendar in `path`.
    pub fn load(path: &Path) -> Result<Calendar, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|e| CalendarError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Calendar::parse(&text, &path.display().to_string())
    }

    /// Parses and validates calendar text; `origin` names it in errors.
    ///
    /// Checks: consecutive years without gaps or repeats; every date inside
    /// its year's block (元旦 may not reach into the year before); no day
    /// listed twice; days off that are weekdays or weekends, worked days
    /// that are weekends only (a weekday is a working day already).
    pub fn parse(text: &str, origin: &str) -> Result<Calendar, CalendarError> {
        let invalid = |problems: Vec<String>| CalendarError::Invalid {
            origin: origin.to_owned(),
            problems,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| invalid(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        let mut years = Vec::new();
        let mut off = BTreeSet::new();
        let mut work = BTreeSet::new();
        let mut names = BTreeMap::new();
        let mut previous: Option<i32> = None;
        for raw_year in raw.year {
            let y = raw_year.year;
            if let Some(p) = previous
                && y != p + 1
            {
                problems.push(format!(
                    "{y}: 年份须连续递增，上一年为 {p} (years must follow each other; the previous is {p})"
                ));
            }
            previous = Some(y);
            if raw_year.notice.trim().is_empty() {
                problems.push(format!("{y}: 缺少通知文号 (the notice is missing)"));
            }
            let mut holidays = Vec::new();
            for h in raw_year.holiday {
                let at = format!("{y} {}", h.name);
                let mut dates = |texts: &[String], worked: bool| -> Vec<NaiveDate> {
                    let mut out = Vec::new();
                    for text in texts {
                        match expand(text) {
                            Err(e) => problems.push(format!("{at}: {e}")),
                            Ok(days) => {
                                for day in days {
                                    if day.year() != y {
                                        problems.push(format!(
                                            "{at}: {day} 不在 {y} 年内 (is not in {y})"
                                        ));
                                    } else if worked && !is_weekend(day) {
                                        problems.push(format!(
                                            "{at}: 调休上班日 {day} 不是周末 (an adjusted working day must be a weekend day)"
                                        ));
                                    } else if off.contains(&day) || work.contains(&day) {
                                        problems.push(format!(
                                            "{at}: {day} 重复出现 (is listed twice)"
                                        ));
                                    } else {
                                        if worked {
                                            work.insert(day);
                                        } else {
                                            off.insert(day);
                                        }
                                        out.push(day);
                                    }
                                }
                            }
                        }
                    }
                    out
                };
                let off_days = dates(&h.off, false);
                let work_days = dates(&h.work, true);
                if off_days.is_empty() {
                    problems.push(format!("{at}: 没有放假日期 (no days off)"));
                }
                for day in &off_days {
                    names.insert(*day, (h.name.clone(), h.name_en.clone()));
                }
                holidays.push(Holiday {
                    name: h.name,
                    name_en: h.name_en,
                    off: off_days,
                    work: work_days,
                });
            }
            years.push(Year {
                year: y,
                status: raw_year.status,
                notice: raw_year.notice,
                published: raw_year.published,
                holidays,
            });
        }
        let (Some(first), Some(last)) = (years.first(), years.last()) else {
            return Err(invalid(vec!["没有任何年份 (no years)".into()]));
        };
        let (first, last) = (first.year, last.year);
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        Ok(Calendar {
            years,
            first,
            last,
            off,
            work,
            names,
        })
    }

    /// This calendar with `days` added as local non-working days (a
    /// tenant's own closures). A local day that the calendar makes a
    /// working day (调休) is off too: the tenant said so.
    pub fn with_local_days(&self, days: impl IntoIterator<Item = NaiveDate>) -> Calendar {
        let mut calendar = self.clone();
        for day in days {
            calendar.work.remove(&day);
            calendar.off.insert(day);
        }
        calendar
    }

    /// The covered years.
    pub fn years(&self) -> &[Year] {
        &self.years
    }

    /// The first and last covered year.
    pub fn coverage(&self) -> (i32, i32) {
        (self.first, self.last)
    }

    /// The covered years whose dates are provisional (no notice yet).
    pub fn provisional_years(&self) -> Vec<i32> {
        self.years
            .iter()
            .filter(|y| y.status == YearStatus::Statutory)
            .map(|y| y.year)
            .collect()
    }

    fn check(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if (self.first..=self.last).contains(&date.year()) {
            Ok(())
        } else {
            Err(CalendarError::NotCovered {
                date,
                first: self.first,
                last: self.last,
            })
        }
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.check(date)?;
        Ok(if self.work.contains(&date) {
            true
        } else {
            !is_weekend(date) && !self.off.contains(&date)
        })
    }

    /// The holiday `date` belongs to, if it is an official day off.
    pub fn holiday_of(&self, date: NaiveDate) -> Option<(&str, &str)> {
        self.names
            .get(&date)
            .map(|(zh, en)| (zh.as_str(), en.as_str()))
    }

    /// The `n`th working day after `date` (`date` itself does not count;
    /// `n = 0` gives `date`). Every day passed must be covered.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        if n > MAX_DAYS {
            return Err(CalendarError::TooManyDays(n));
        }
        self.check(date)?;
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = next_day(day, self)?;
            if self.is_working_day(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// `date` plus `n` days of `unit`.
    pub fn add_days(
        &self,
        date: NaiveDate,
        n: u32,
        unit: DayUnit,
    ) -> Result<NaiveDate, CalendarError> {
        match unit {
            DayUnit::Working => self.add_working_days(date, n),
            DayUnit::Natural => {
                if n > MAX_DAYS {
                    return Err(CalendarError::TooManyDays(n));
                }
                date.checked_add_days(Days::new(u64::from(n)))
                    .ok_or(CalendarError::TooManyDays(n))
            }
        }
    }

    /// `date` minus `n` days of `unit` (the `n`th working day before it for
    /// working days), for reminders ahead of a deadline.
    pub fn sub_days(
        &self,
        date: NaiveDate,
        n: u32,
        unit: DayUnit,
    ) -> Result<NaiveDate, CalendarError> {
        if n > MAX_DAYS {
            return Err(CalendarError::TooManyDays(n));
        }
        match unit {
            DayUnit::Natural => date
                .checked_sub_days(Days::new(u64::from(n)))
                .ok_or(CalendarError::TooManyDays(n)),
            DayUnit::Working => {
                self.check(date)?;
                let mut day = date;
                let mut left = n;
                while left > 0 {
                    day = day.pred_opt().ok_or(CalendarError::TooManyDays(n))?;
                    if self.is_working_day(day)? {
                        left -= 1;
                    }
                }
                Ok(day)
            }
        }
    }

    /// How many days of `unit` lie after `from` up to and including `to`
    /// (negative when `to` is before `from`): the days left to a deadline.
    pub fn days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        unit: DayUnit,
    ) -> Result<i64, CalendarError> {
        match unit {
            DayUnit::Natural => Ok((to - from).num_days()),
            DayUnit::Working => {
                let (start, end, sign) = if to >= from {
                    (from, to, 1)
                } else {
                    (to, from, -1)
                };
                if (end - start).num_days() > i64::from(MAX_DAYS) {
                    return Err(CalendarError::TooManyDays(MAX_DAYS));
                }
                self.check(start)?;
                self.check(end)?;
                let mut count = 0;
                let mut day = start;
                while day < end {
                    day = next_day(day, self)?;
                    if self.is_working_day(day)? {
                        count += 1;
                    }
                }
                Ok(sign * count)
            }
        }
    }
}

fn next_day(day: NaiveDate, calendar: &Calendar) -> Result<NaiveDate, CalendarError> {
    let next = day.succ_opt().ok_or(CalendarError::NotCovered {
        date: day,
        first: calendar.first,
        last: calendar.last,
    })?;
    calendar.check(next)?;
    Ok(next)
}
