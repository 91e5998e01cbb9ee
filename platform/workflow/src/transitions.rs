//! Pure transitions: how an action moves a case's deadlines, as functions
//! of the dates, the flow's rules and the calendar. No database and no
//! clock (today comes in): the engine (`cases.rs`) reads the case,
//! authorizes, calls these, and writes the result. Tested below without a
//! database.

use chrono::NaiveDate;
use civitas_calendar::{Calendar, DayUnit};

use crate::WorkflowError;
use crate::flow::Limit;

/// A paused case's deadline on resuming `today`: moved on by the days the
/// case was paused (`paused_on` to `today`), counted in the deadline's own
/// unit, so a pause over a holiday costs a working-day deadline only the
/// working days it spanned. A case without the deadline, or a deadline of no
/// known unit, keeps what it has.
pub(crate) fn resumed_due(
    due: Option<NaiveDate>,
    unit: Option<&str>,
    paused_on: NaiveDate,
    today: NaiveDate,
    calendar: &Calendar,
) -> Result<Option<NaiveDate>, WorkflowError> {
    let (Some(due), Some(unit)) = (due, unit.and_then(DayUnit::parse)) else {
        return Ok(due);
    };
    let paused = calendar.days_between(paused_on, today, unit)?.max(0);
    Ok(Some(calendar.add_days(
        due,
        u32::try_from(paused).unwrap_or(0),
        unit,
    )?))
}

/// The statutory limit after an extension of `days` (the days and the new
/// limit): refused without a positive number of days, or when it would take
/// the extensions past the flow's total (`extended` days used already).
/// `due` is the limit now.
pub(crate) fn extended_limit(
    limit: &Limit,
    due: NaiveDate,
    extended: i64,
    days: Option<u32>,
    calendar: &Calendar,
) -> Result<(u32, NaiveDate), WorkflowError> {
    let days = days.filter(|d| *d > 0).ok_or_else(|| {
        WorkflowError::Invalid("延期需要正整数 days / an extension needs days > 0".into())
    })?;
    if extended + i64::from(days) > i64::from(limit.max_extension) {
        return Err(WorkflowError::NotAllowed(format!(
            "延期总计不得超过 {} 天（已延 {extended} 天）/ extensions total at most {} days ({extended} used)",
            limit.max_extension, limit.max_extension
        )));
    }
    Ok((days, calendar.add_days(due, days, limit.deadline.unit)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::flow::Deadline;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn calendar() -> Calendar {
        Calendar::official().unwrap()
    }

    fn limit(days: u32, unit: DayUnit, max_extension: u32) -> Limit {
        Limit {
            deadline: Deadline { days, unit },
            remind_before: None,
            max_extension,
        }
    }

    #[test]
    fn resuming_moves_a_natural_day_deadline_by_every_day_paused() {
        let due = resumed_due(
            Some(date("2026-11-01")),
            Some("natural"),
            date("2026-09-30"),
            date("2026-10-09"),
            &calendar(),
        );
        assert_eq!(due.unwrap(), Some(date("2026-11-10")));
    }

    #[test]
    fn resuming_after_national_day_moves_a_working_day_deadline_by_the_working_days_only() {
        // Paused on 30 September, resumed on Friday 9 October: 1–7 October
        // are the holiday, so the pause spanned two working days (8, 9).
        let due = resumed_due(
            Some(date("2026-10-20")),
            Some("working"),
            date("2026-09-30"),
            date("2026-10-09"),
            &calendar(),
        );
        assert_eq!(due.unwrap(), Some(date("2026-10-22")));
    }

    #[test]
    fn resuming_the_day_it_paused_or_without_a_deadline_changes_nothing() {
        let calendar = calendar();
        let day = date("2026-11-02");
        let same = resumed_due(
            Some(date("2026-11-20")),
            Some("working"),
            day,
            day,
            &calendar,
        );
        assert_eq!(same.unwrap(), Some(date("2026-11-20")));
        let none = resumed_due(None, Some("working"), day, date("2026-11-09"), &calendar);
        assert_eq!(none.unwrap(), None);
        let no_unit = resumed_due(
            Some(date("2026-11-20")),
            None,
            day,
            date("2026-11-09"),
            &calendar,
        );
        assert_eq!(no_unit.unwrap(), Some(date("2026-11-20")));
    }

    #[test]
    fn an_extension_adds_its_days_in_the_limits_unit() {
        let ninety_natural = limit(90, DayUnit::Natural, 30);
        let (days, due) = extended_limit(
            &ninety_natural,
            date("2026-12-30"),
            0,
            Some(10),
            &calendar(),
        )
        .unwrap();
        assert_eq!((days, due), (10, date("2027-01-09")));
    }

    #[test]
    fn extensions_stop_at_the_flows_total_and_name_what_is_used() {
        let ninety_natural = limit(90, DayUnit::Natural, 30);
        let calendar = calendar();
        // 20 used + 10 = 30: allowed; 20 used + 11: refused.
        assert!(
            extended_limit(&ninety_natural, date("2026-12-01"), 20, Some(10), &calendar).is_ok()
        );
        let refused = extended_limit(&ninety_natural, date("2026-12-01"), 20, Some(11), &calendar)
            .unwrap_err();
        assert!(matches!(refused, WorkflowError::NotAllowed(_)), "{refused}");
        assert!(refused.to_string().contains("20 used"), "{refused}");
    }

    #[test]
    fn an_extension_needs_a_positive_number_of_days() {
        let limit = limit(90, DayUnit::Natural, 30);
        for days in [None, Some(0)] {
            let refused =
                extended_limit(&limit, date("2026-12-01"), 0, days, &calendar()).unwrap_err();
            assert!(matches!(refused, WorkflowError::Invalid(_)), "{refused}");
        }
    }
}
