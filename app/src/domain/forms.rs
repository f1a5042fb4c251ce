//! Field-by-field validation results of forms.

/// Problems found in a submitted form, keyed by field name, in field order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors {
    errors: Vec<(String, String)>,
}

impl FieldErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`; the first one per field is kept.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.errors.push((field.to_owned(), message.into()));
        }
    }

    /// Records `result`'s error, if any, and passes its value on.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        label: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, format!("{label} {e}"));
                None
            }
        }
    }

    /// The problem with `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every problem, as `(field, message)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.errors.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_problem_per_field_is_kept_in_order() {
        let mut errors = FieldErrors::new();
        errors.add("name", "Name is required");
        errors.add("email", "Email is invalid");
        errors.add("name", "second");
        assert_eq!(errors.get("name"), Some("Name is required"));
        assert_eq!(
            errors.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            vec!["name", "email"]
        );
        let value: Option<u8> = errors.check("age", "Age", "x".parse::<u8>());
        assert!(value.is_none());
        assert!(errors.get("age").is_some_and(|m| m.starts_with("Age ")));
    }
}
