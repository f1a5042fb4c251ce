//! Checks shared by every free-text value that users type.

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is required")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains control characters")]
    ControlCharacters,
}

/// Reads a `YYYY-MM-DD` date between the years 1 and 9999. Chrono also reads
/// signed and six-digit years, which Postgres cannot store or which overflow
/// date arithmetic; those are no date at all here.
pub fn parse_date(input: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike as _;
    chrono::NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&d.year()))
}

/// Trims `input` and checks it is non-empty, at most `max` characters and free
/// of control characters (NUL cannot even be stored by Postgres). Line breaks
/// are allowed only when `multiline` is set.
pub fn clean_text(input: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\r' || c == '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextError::ControlCharacters);
    }
    Ok(trimmed.to_owned())
}

/// Like [`clean_text`] but an empty input is `None` rather than an error.
pub fn clean_optional_text(
    input: &str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, TextError> {
    match clean_text(input, max, multiline) {
        Ok(text) => Ok(Some(text)),
        Err(TextError::Empty) => Ok(None),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_the_calendar_years_are_refused() {
        assert_eq!(
            parse_date(" 2026-01-31 "),
            chrono::NaiveDate::from_ymd_opt(2026, 1, 31)
        );
        for bad in [
            "-5000-01-01",
            "262143-12-31",
            "+12345-01-01",
            "2026-02-30",
            "31.01.2026",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_and_kept() {
        assert_eq!(clean_text("  Clinic  ", 10, false).as_deref(), Ok("Clinic"));
    }

    #[test]
    fn blank_text_is_empty() {
        assert_eq!(clean_text(" \t ", 10, false), Err(TextError::Empty));
        assert_eq!(clean_optional_text("  ", 10, false), Ok(None));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(clean_text("Київ", 4, false).is_ok());
        assert_eq!(
            clean_text("Київ!", 4, false),
            Err(TextError::TooLong { max: 4 })
        );
    }

    #[test]
    fn nul_and_other_control_characters_are_refused() {
        assert_eq!(
            clean_text("a\u{0}b", 10, false),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(
            clean_text("a\nb", 10, false),
            Err(TextError::ControlCharacters)
        );
        assert!(clean_text("a\nb", 10, true).is_ok());
    }
}
