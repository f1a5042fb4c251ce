//! The message catalog of public pages (`locales/{en,uk}/main.ftl`, Fluent).

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};

use crate::domain::locale::Locale;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks: the text is rendered into HTML, which
        // handles direction itself.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static EN: LanguageIdentifier = langid!("en");
static UK: LanguageIdentifier = langid!("uk");

fn language(locale: Locale) -> &'static LanguageIdentifier {
    match locale {
        Locale::En => &EN,
        Locale::Uk => &UK,
    }
}

/// The message `key` in `locale` (falls back to English).
pub fn t(locale: Locale, key: &str) -> String {
    LOCALES.lookup(language(locale), key)
}

/// The message `key` in `locale` with named arguments.
pub fn t_args(locale: Locale, key: &str, args: &[(&'static str, String)]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue> = args
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
        .collect();
    LOCALES.lookup_with_args(language(locale), key, &args)
}

/// `text` translated when it is a message key of the catalog, else as is
/// (validation messages of public forms are keys; staff pages use text).
pub fn tr_or_raw(text: &str) -> String {
    let looks_like_key = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if looks_like_key {
        LOCALES
            .try_lookup(language(use_locale()), text)
            .unwrap_or_else(|| text.to_owned())
    } else {
        text.to_owned()
    }
}

/// The locale chosen for the current request (set by the server per request).
pub fn use_locale() -> Locale {
    leptos::prelude::use_context::<Locale>().unwrap_or_default()
}

/// [`t`] in the current request's locale.
pub fn tr(key: &str) -> String {
    t(use_locale(), key)
}

/// [`t_args`] in the current request's locale.
pub fn tr_args(key: &str, args: &[(&'static str, String)]) -> String {
    t_args(use_locale(), key, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_ids(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    /// Every `$variable` a catalog uses.
    fn variables(source: &str) -> Vec<String> {
        source
            .split('$')
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_message_exists_in_every_locale() {
        let en = message_ids(include_str!("../locales/en/main.ftl"));
        let uk = message_ids(include_str!("../locales/uk/main.ftl"));
        assert!(en.len() > 10, "the catalog should not be empty");
        let missing_uk: Vec<_> = en.iter().filter(|id| !uk.contains(id)).collect();
        let missing_en: Vec<_> = uk.iter().filter(|id| !en.contains(id)).collect();
        assert!(missing_uk.is_empty(), "missing in uk: {missing_uk:?}");
        assert!(missing_en.is_empty(), "missing in en: {missing_en:?}");
        let args: HashMap<Cow<'static, str>, FluentValue> =
            variables(include_str!("../locales/en/main.ftl"))
                .into_iter()
                .chain(variables(include_str!("../locales/uk/main.ftl")))
                .map(|name| (Cow::Owned(name), FluentValue::from("x")))
                .collect();
        assert!(args.contains_key("reference"));
        for id in &en {
            assert!(
                LOCALES.try_lookup_with_args(&UK, id, &args).is_some(),
                "uk cannot render {id}"
            );
        }
    }

    #[test]
    fn lookups_use_the_requested_language_and_arguments() {
        assert_eq!(t(Locale::En, "nav-home"), "Home");
        assert_eq!(t(Locale::Uk, "nav-home"), "Головна");
        let text = t_args(Locale::En, "footer-request-id", &[("id", "abc-123".into())]);
        assert!(text.contains("abc-123"), "{text}");
    }
}
