//! The shipped calendar on the real 2025 and 2026 holiday periods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use civitas_calendar::{Calendar, CalendarError, DayUnit, YearStatus};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn calendar() -> Calendar {
    Calendar::official().unwrap()
}

#[test]
fn the_shipped_file_covers_2025_to_2027_with_official_2025_and_2026() {
    let calendar = calendar();
    assert_eq!(calendar.coverage(), (2025, 2027));
    let statuses: Vec<_> = calendar
        .years()
        .iter()
        .map(|y| (y.year, y.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (2025, YearStatus::Official),
            (2026, YearStatus::Official),
            (2027, YearStatus::Statutory)
        ]
    );
    assert_eq!(calendar.years()[0].notice, "国办发明电〔2024〕12号");
    assert_eq!(calendar.years()[1].notice, "国办发明电〔2025〕7号");
    assert_eq!(calendar.provisional_years(), [2027]);
}

#[test]
fn national_day_2025_is_eight_days_off_with_two_saturdays_and_sundays_worked() {
    let calendar = calendar();
    for d in 1..=8 {
        let date = day(&format!("2025-10-{d:02}"));
        assert!(!calendar.is_working_day(date).unwrap(), "{date} is off");
        assert_eq!(
            calendar.holiday_of(date),
            Some(("国庆节、中秋节", "National Day and Mid-Autumn Festival"))
        );
    }
    // 调休: Sunday 09-28 and Saturday 10-11 are worked.
    assert!(calendar.is_working_day(day("2025-09-28")).unwrap());
    assert!(calendar.is_working_day(day("2025-10-11")).unwrap());
    // An ordinary weekend stays off.
    assert!(!calendar.is_working_day(day("2025-10-12")).unwrap());
    // A case filed on Tuesday 09-30 with 5 working days: 10-09, 10-10, 10-11
    // (Saturday, worked), 10-13, 10-14.
    assert_eq!(
        calendar.add_working_days(day("2025-09-30"), 5).unwrap(),
        day("2025-10-14")
    );
    // Filed on Friday 09-26: Sunday 09-28 counts, then 09-29, 09-30.
    assert_eq!(
        calendar.add_working_days(day("2025-09-26"), 3).unwrap(),
        day("2025-09-30")
    );
    assert_eq!(
        calendar.add_working_days(day("2025-09-26"), 4).unwrap(),
        day("2025-10-09")
    );
}

#[test]
fn spring_festival_2025_counts_the_adjusted_sunday_and_saturday() {
    let calendar = calendar();
    for d in ["2025-01-28", "2025-01-31", "2025-02-03", "2025-02-04"] {
        assert!(!calendar.is_working_day(day(d)).unwrap(), "{d}");
    }
    assert!(calendar.is_working_day(day("2025-01-26")).unwrap());
    assert!(calendar.is_working_day(day("2025-02-08")).unwrap());
    // Friday 01-24 + 1: Sunday 01-26 is worked.
    assert_eq!(
        calendar.add_working_days(day("2025-01-24"), 1).unwrap(),
        day("2025-01-26")
    );
    // Monday 01-27 + 1 jumps the eight days off to Wednesday 02-05.
    assert_eq!(
        calendar.add_working_days(day("2025-01-27"), 1).unwrap(),
        day("2025-02-05")
    );
    // 02-05, 02-06, 02-07, 02-08 (Saturday, worked), 02-10.
    assert_eq!(
        calendar.add_working_days(day("2025-01-27"), 5).unwrap(),
        day("2025-02-10")
    );
}

#[test]
fn spring_festival_2026_is_nine_days_off() {
    let calendar = calendar();
    for d in 15..=23 {
        let date = day(&format!("2026-02-{d:02}"));
        assert!(!calendar.is_working_day(date).unwrap(), "{date}");
    }
    assert!(
        calendar.is_working_day(day("2026-02-14")).unwrap(),
        "Saturday before, worked"
    );
    assert!(
        calendar.is_working_day(day("2026-02-28")).unwrap(),
        "Saturday after, worked"
    );
    // Friday 02-13 + 1 = Saturday 02-14 (worked); + 2 jumps to 02-24.
    assert_eq!(
        calendar.add_working_days(day("2026-02-13"), 1).unwrap(),
        day("2026-02-14")
    );
    assert_eq!(
        calendar.add_working_days(day("2026-02-13"), 2).unwrap(),
        day("2026-02-24")
    );
    // 15 working days from 02-13: 02-14, 24, 25, 26, 27, 28 (Sat), 03-02..06, 03-09..12.
    assert_eq!(
        calendar.add_working_days(day("2026-02-13"), 15).unwrap(),
        day("2026-03-12")
    );
    assert_eq!(
        calendar
            .days_between(day("2026-02-13"), day("2026-03-12"), DayUnit::Working)
            .unwrap(),
        15
    );
}

#[test]
fn national_day_2026_is_seven_days_off_after_mid_autumn() {
    let calendar = calendar();
    for d in ["2026-09-25", "2026-09-26", "2026-09-27"] {
        assert!(!calendar.is_working_day(day(d)).unwrap(), "中秋 {d}");
    }
    for d in 1..=7 {
        assert!(
            !calendar
                .is_working_day(day(&format!("2026-10-{d:02}")))
                .unwrap()
        );
    }
    assert!(
        calendar.is_working_day(day("2026-09-20")).unwrap(),
        "Sunday before, worked"
    );
    assert!(
        calendar.is_working_day(day("2026-10-10")).unwrap(),
        "Saturday after, worked"
    );
    // Wednesday 09-30 + 3: 10-08, 10-09, 10-10 (Saturday, worked).
    assert_eq!(
        calendar.add_working_days(day("2026-09-30"), 3).unwrap(),
        day("2026-10-10")
    );
    assert_eq!(
        calendar.add_working_days(day("2026-09-30"), 4).unwrap(),
        day("2026-10-12")
    );
    // Reminders count backwards the same way.
    assert_eq!(
        calendar
            .sub_days(day("2026-10-12"), 2, DayUnit::Working)
            .unwrap(),
        day("2026-10-09")
    );
}

#[test]
fn natural_days_ignore_the_calendar() {
    let calendar = calendar();
    // A penalty case filed 2025-09-30 with its 90-natural-day limit.
    assert_eq!(
        calendar
            .add_days(day("2025-09-30"), 90, DayUnit::Natural)
            .unwrap(),
        day("2025-12-29")
    );
}

#[test]
fn a_tenants_local_days_are_off_for_it_only() {
    let official = calendar();
    let local = official.with_local_days([day("2026-03-05"), day("2026-02-28")]);
    assert!(official.is_working_day(day("2026-03-05")).unwrap());
    assert!(!local.is_working_day(day("2026-03-05")).unwrap());
    assert!(
        !local.is_working_day(day("2026-02-28")).unwrap(),
        "a local day overrides 调休"
    );
    assert_eq!(
        local.add_working_days(day("2026-03-04"), 1).unwrap(),
        day("2026-03-06")
    );
}

#[test]
fn dates_outside_the_covered_years_are_refused_not_guessed() {
    let calendar = calendar();
    assert!(matches!(
        calendar.is_working_day(day("2028-01-03")),
        Err(CalendarError::NotCovered {
            first: 2025,
            last: 2027,
            ..
        })
    ));
    assert!(matches!(
        calendar.add_working_days(day("2027-12-30"), 5),
        Err(CalendarError::NotCovered { .. })
    ));
    assert!(matches!(
        calendar.add_working_days(day("2026-01-05"), 100_000),
        Err(CalendarError::TooManyDays(100_000))
    ));
}

#[test]
fn an_invalid_file_is_refused_with_every_problem_named() {
    let text = r#"
[[year]]
year = 2025
status = "official"
notice = "x"
published = "2024-11-12"
[[year.holiday]]
name = "春节"
name_en = "Spring Festival"
off = ["2025-01-28..2025-02-04", "2025-02-01", "2026-01-01"]
work = ["2025-01-27"]

[[year]]
year = 2027
status = "official"
notice = "y"
published = "z"
[[year.holiday]]
name = "元旦"
name_en = "New Year"
off = ["2027-13-01"]
"#;
    let Err(CalendarError::Invalid { problems, .. }) = Calendar::parse(text, "test") else {
        panic!("invalid");
    };
    let all = problems.join("\n");
    for expected in [
        "2025-02-01 重复出现",
        "2026-01-01 不在 2025 年内",
        "调休上班日 2025-01-27 不是周末",
        "2027: 年份须连续递增",
        "“2027-13-01” 不是 YYYY-MM-DD 日期",
    ] {
        assert!(all.contains(expected), "{expected} in:\n{all}");
    }
}
