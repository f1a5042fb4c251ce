//! The legal clock of a privacy request.
//!
//! The clock starts on the day the requester's identity is verified. The
//! answer is due one calendar month later (GDPR Art. 12(3): the same day of
//! the next month, or that month's last day when the day does not exist) or a
//! fixed number of days later. Days spent waiting for the requester push the
//! date back; one extension adds up to two further months.

use chrono::{Days, Months, NaiveDate};

use super::clinic::DeadlineRule;

/// Latest extension allowed, in months.
pub const MAX_EXTENSION_MONTHS: u8 = 2;

/// The due date before any pause or extension.
pub fn base_due(verified_on: NaiveDate, rule: DeadlineRule) -> NaiveDate {
    let due = match rule {
        DeadlineRule::CalendarMonth => verified_on.checked_add_months(Months::new(1)),
        DeadlineRule::Days(days) => verified_on.checked_add_days(Days::new(u64::from(days))),
    };
    due.unwrap_or(NaiveDate::MAX)
}

/// The due date after `paused_days` of waiting for the requester, before
/// any extension: the date the extension must be announced by.
pub fn unextended_due(base: NaiveDate, paused_days: u32) -> NaiveDate {
    base.checked_add_days(Days::new(u64::from(paused_days)))
        .unwrap_or(NaiveDate::MAX)
}

/// The due date with pauses and an extension of `extension_months` (1 or 2).
pub fn due(base: NaiveDate, paused_days: u32, extension_months: Option<u8>) -> NaiveDate {
    let unextended = unextended_due(base, paused_days);
    match extension_months {
        Some(months) => unextended
            .checked_add_months(Months::new(u32::from(months.min(MAX_EXTENSION_MONTHS))))
            .unwrap_or(NaiveDate::MAX),
        None => unextended,
    }
}

/// Whole days a pause lasted (a pause ended the day it began costs none).
pub fn pause_days(paused_since: NaiveDate, resumed_on: NaiveDate) -> u32 {
    u32::try_from((resumed_on - paused_since).num_days().max(0)).unwrap_or(u32::MAX)
}

/// Why an extension is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("The deadline has already been extended once.")]
    AlreadyExtended,
    #[error("An extension must be announced before the original deadline ({0}); it has passed.")]
    TooLate(NaiveDate),
    #[error("An extension is one or two months.")]
    BadLength,
}

/// Checks an extension of `months` asked for on `today`.
pub fn check_extension(
    today: NaiveDate,
    unextended_due: NaiveDate,
    already_extended: bool,
    months: u8,
) -> Result<(), ExtensionError> {
    if already_extended {
        return Err(ExtensionError::AlreadyExtended);
    }
    if !(1..=MAX_EXTENSION_MONTHS).contains(&months) {
        return Err(ExtensionError::BadLength);
    }
    if today > unextended_due {
        return Err(ExtensionError::TooLate(unextended_due));
    }
    Ok(())
}

/// Days from `today` until `due` (negative when overdue).
pub fn days_left(today: NaiveDate, due: NaiveDate) -> i64 {
    (due - today).num_days()
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;
    use proptest::prelude::*;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn one_calendar_month_keeps_the_day_or_takes_the_months_last_day() {
        let month = DeadlineRule::CalendarMonth;
        assert_eq!(base_due(date(2026, 1, 15), month), date(2026, 2, 15));
        assert_eq!(base_due(date(2026, 1, 31), month), date(2026, 2, 28));
        assert_eq!(
            base_due(date(2028, 1, 31), month),
            date(2028, 2, 29),
            "leap year"
        );
        assert_eq!(base_due(date(2026, 3, 31), month), date(2026, 4, 30));
        assert_eq!(base_due(date(2026, 12, 31), month), date(2027, 1, 31));
        assert_eq!(base_due(date(2026, 2, 28), month), date(2026, 3, 28));
    }

    #[test]
    fn a_number_of_days_counts_calendar_days() {
        assert_eq!(
            base_due(date(2026, 1, 31), DeadlineRule::Days(30)),
            date(2026, 3, 2)
        );
        assert_eq!(
            base_due(date(2026, 12, 20), DeadlineRule::Days(30)),
            date(2027, 1, 19)
        );
    }

    #[test]
    fn pauses_push_the_date_and_an_extension_adds_months() {
        let base = date(2026, 1, 31);
        assert_eq!(due(base, 0, None), base);
        assert_eq!(due(base, 5, None), date(2026, 2, 5));
        assert_eq!(due(date(2026, 2, 28), 0, Some(2)), date(2026, 4, 28));
        assert_eq!(due(date(2026, 3, 31), 0, Some(1)), date(2026, 4, 30));
        assert_eq!(pause_days(date(2026, 2, 1), date(2026, 2, 1)), 0);
        assert_eq!(pause_days(date(2026, 2, 1), date(2026, 2, 11)), 10);
    }

    #[test]
    fn an_extension_is_once_up_to_two_months_and_before_the_deadline() {
        let due = date(2026, 2, 28);
        assert_eq!(check_extension(date(2026, 2, 28), due, false, 2), Ok(()));
        assert_eq!(
            check_extension(date(2026, 3, 1), due, false, 1),
            Err(ExtensionError::TooLate(due))
        );
        assert_eq!(
            check_extension(date(2026, 2, 1), due, true, 1),
            Err(ExtensionError::AlreadyExtended)
        );
        assert_eq!(
            check_extension(date(2026, 2, 1), due, false, 3),
            Err(ExtensionError::BadLength)
        );
        assert_eq!(
            check_extension(date(2026, 2, 1), due, false, 0),
            Err(ExtensionError::BadLength)
        );
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (1990i32..2100, 1u32..=12, 1u32..=31)
            .prop_filter_map("a real date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
    }

    fn any_rule() -> impl Strategy<Value = DeadlineRule> {
        prop_oneof![
            Just(DeadlineRule::CalendarMonth),
            (1u16..=90).prop_map(DeadlineRule::Days)
        ]
    }

    proptest! {
        #[test]
        fn a_calendar_month_lands_in_the_next_month_on_the_same_or_last_day(start in any_date()) {
            let due = base_due(start, DeadlineRule::CalendarMonth);
            let next_month = if start.month() == 12 { 1 } else { start.month() + 1 };
            prop_assert_eq!(due.month(), next_month);
            let last_day = (28..=31).rev().find(|d| NaiveDate::from_ymd_opt(due.year(), due.month(), *d).is_some()).unwrap_or(28);
            prop_assert_eq!(due.day(), start.day().min(last_day));
            prop_assert!((28..=31).contains(&(due - start).num_days()));
        }

        #[test]
        fn due_dates_never_move_earlier(
            start in any_date(),
            rule in any_rule(),
            pause in 0u32..400,
            more in 0u32..100,
            extension in prop::option::of(1u8..=2),
        ) {
            let base = base_due(start, rule);
            prop_assert!(base > start);
            prop_assert!(due(base, pause, None) >= base);
            prop_assert!(due(base, pause + more, extension) >= due(base, pause, extension));
            prop_assert!(due(base, pause, extension) >= due(base, pause, None));
            if let Some(months) = extension {
                prop_assert!(due(base, pause, Some(2)) >= due(base, pause, Some(months)));
            }
        }

        #[test]
        fn a_later_start_is_never_due_earlier(a in any_date(), b in any_date(), rule in any_rule()) {
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(base_due(early, rule) <= base_due(late, rule));
        }
    }
}
