//! Retention: the categories of portal data a clinic keeps, how long each is
//! kept by default (from the periods the platforms' own notices promise), the
//! limits on changing them, and the validation of the rules form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::forms::FieldErrors;

catalog!(
    /// A category of data the portal holds for a clinic.
    Category, "a retention category", {
        ClosedRequests => ("closed_requests", "Closed privacy requests and their files"),
        UnverifiedRequests => ("unverified_requests", "Requests never verified"),
        ConsentRecords => ("consent_records", "Consent records and receipts"),
        EmailLog => ("email_log", "Email delivery log"),
        Sessions => ("sessions", "Team members' sign-in sessions"),
        UnsubscribedSubscribers => ("unsubscribed_subscribers", "Unsubscribed change-notice subscribers"),
        AuditLog => ("audit_log", "Audit log"),
    }
);

catalog!(
    /// What happens to data past its period.
    Action, "delete or anonymize", {
        Delete => ("delete", "Delete"),
        Anonymize => ("anonymize", "Anonymize"),
    }
);

/// A category's period and action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub period_days: i32,
    #[serde(with = "action_text")]
    pub action: Action,
}

mod action_text {
    use super::Action;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(action: &Action, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(action.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Longest period a rule may have (100 years).
pub const MAX_PERIOD_DAYS: i32 = 36_500;

impl Category {
    /// The default rule. Periods follow the notices the portal serves: patient
    /// data three years, logs 90 days, account data 30 days after closure,
    /// records kept for legal reasons seven years.
    pub fn default_rule(self) -> Rule {
        let (period_days, action) = match self {
            Self::ClosedRequests => (3 * 365, Action::Delete),
            Self::UnverifiedRequests => (7, Action::Delete),
            Self::ConsentRecords => (3 * 365, Action::Delete),
            Self::EmailLog => (90, Action::Delete),
            Self::Sessions => (30, Action::Delete),
            Self::UnsubscribedSubscribers => (30, Action::Anonymize),
            Self::AuditLog => (7 * 365, Action::Delete),
        };
        Rule {
            period_days,
            action,
        }
    }

    /// Shortest period a clinic may set: an audit log must outlive a year of
    /// reviews; an unverified request keeps its week-long verification link.
    pub fn minimum_days(self) -> i32 {
        match self {
            Self::AuditLog => 365,
            Self::UnverifiedRequests => 7,
            Self::ClosedRequests | Self::ConsentRecords => 30,
            Self::EmailLog | Self::Sessions | Self::UnsubscribedSubscribers => 1,
        }
    }

    /// Actions that make sense for the category. Records whose worth is their
    /// integrity (receipts, the hash chain) and sessions can only be deleted.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Self::ClosedRequests | Self::EmailLog | Self::UnsubscribedSubscribers => {
                &[Action::Delete, Action::Anonymize]
            }
            Self::UnverifiedRequests | Self::ConsentRecords | Self::Sessions | Self::AuditLog => {
                &[Action::Delete]
            }
        }
    }

    /// What the period is counted from.
    pub fn counted_from(self) -> &'static str {
        match self {
            Self::ClosedRequests => "the request was closed",
            Self::UnverifiedRequests => "the request was submitted",
            Self::ConsentRecords => "the choice was recorded",
            Self::EmailLog => "the email was sent",
            Self::Sessions => "the session was last used",
            Self::UnsubscribedSubscribers => "the person unsubscribed",
            Self::AuditLog => "the event happened",
        }
    }
}

/// Every category's rule: the clinic's own where it set one, else the default.
pub fn effective_rules(saved: &BTreeMap<Category, Rule>) -> BTreeMap<Category, Rule> {
    Category::ALL
        .iter()
        .map(|&c| {
            (
                c,
                saved.get(&c).copied().unwrap_or_else(|| c.default_rule()),
            )
        })
        .collect()
}

/// Field names of a category on the rules form.
pub fn period_field(category: Category) -> String {
    format!("{}_days", category.as_str())
}

/// Field name of a category's action.
pub fn action_field(category: Category) -> String {
    format!("{}_action", category.as_str())
}

/// Reads the rules form: one period and one action per category. Every
/// problem is reported against its field.
pub fn parse_rules(get: impl Fn(&str) -> String) -> Result<BTreeMap<Category, Rule>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut rules = BTreeMap::new();
    for &category in Category::ALL {
        let field = period_field(category);
        let text = get(&field);
        let period = match text.trim().parse::<i32>() {
            Ok(days) if days < category.minimum_days() => {
                errors.add(
                    &field,
                    format!(
                        "{}: keep it at least {} days",
                        category.label(),
                        category.minimum_days()
                    ),
                );
                None
            }
            Ok(days) if days > MAX_PERIOD_DAYS => {
                errors.add(
                    &field,
                    format!("{}: at most {MAX_PERIOD_DAYS} days", category.label()),
                );
                None
            }
            Ok(days) => Some(days),
            Err(_) => {
                errors.add(
                    &field,
                    format!("{}: enter a number of days", category.label()),
                );
                None
            }
        };
        let action_name = action_field(category);
        let action_text = get(&action_name);
        let action = match action_text.parse::<Action>() {
            Ok(action) if category.actions().contains(&action) => Some(action),
            Ok(action) => {
                errors.add(
                    &action_name,
                    format!(
                        "{} cannot be {}d, only deleted",
                        category.label(),
                        action.as_str()
                    ),
                );
                None
            }
            Err(_) if action_text.is_empty() && category.actions().len() == 1 => {
                Some(category.actions()[0])
            }
            Err(_) => {
                errors.add(
                    &action_name,
                    format!("{}: choose delete or anonymize", category.label()),
                );
                None
            }
        };
        if let (Some(period_days), Some(action)) = (period, action) {
            rules.insert(
                category,
                Rule {
                    period_days,
                    action,
                },
            );
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Counts per category of one purge (or of what a dry run would do).
pub type Counts = BTreeMap<String, i64>;

/// Longest an export stays downloadable.
pub const EXPORT_LIFETIME_DAYS: i64 = 7;
/// Default window between the start of offboarding and deletion.
pub const DEFAULT_OFFBOARDING_WINDOW_DAYS: i64 = 30;

/// Reads the operator's export window: 1 to 365 days.
pub fn parse_window_days(input: &str) -> Result<i64, &'static str> {
    match input.trim().parse::<i64>() {
        Ok(days) if (1..=365).contains(&days) => Ok(days),
        _ => Err("Enter a number of days between 1 and 365"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> impl Fn(&str) -> String {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned().unwrap_or_default()
    }

    fn defaults_form() -> Vec<(String, String)> {
        Category::ALL
            .iter()
            .flat_map(|&c| {
                let rule = c.default_rule();
                [
                    (period_field(c), rule.period_days.to_string()),
                    (action_field(c), rule.action.as_str().to_owned()),
                ]
            })
            .collect()
    }

    #[test]
    fn the_defaults_parse_back_and_respect_their_own_limits() {
        let pairs = defaults_form();
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let rules = parse_rules(form(&borrowed)).expect("defaults are valid");
        assert_eq!(rules, effective_rules(&BTreeMap::new()));
        for &c in Category::ALL {
            assert!(c.default_rule().period_days >= c.minimum_days());
            assert!(c.actions().contains(&c.default_rule().action));
        }
    }

    #[test]
    fn the_audit_log_minimum_and_integrity_categories_are_enforced() {
        let mut pairs = defaults_form();
        for (k, v) in &mut pairs {
            if k == "audit_log_days" {
                *v = "30".into();
            }
            if k == "consent_records_action" {
                *v = "anonymize".into();
            }
            if k == "email_log_days" {
                *v = "ninety".into();
            }
        }
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let errors = parse_rules(form(&borrowed)).expect_err("refused");
        assert!(
            errors
                .get("audit_log_days")
                .expect("an error")
                .contains("at least 365")
        );
        assert!(
            errors
                .get("consent_records_action")
                .expect("an error")
                .contains("only deleted")
        );
        assert!(
            errors
                .get("email_log_days")
                .expect("an error")
                .contains("number of days")
        );
        assert!(errors.get("sessions_days").is_none());
    }

    #[test]
    fn the_export_window_is_bounded() {
        assert_eq!(parse_window_days(" 30 "), Ok(30));
        assert!(parse_window_days("0").is_err());
        assert!(parse_window_days("366").is_err());
        assert!(parse_window_days("soon").is_err());
    }
}
