//! Languages of the public pages and how one is chosen for a request.

use std::fmt;

/// A language the portal speaks.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Uk,
}

impl Locale {
    /// All supported locales.
    pub const ALL: [Self; 2] = [Self::En, Self::Uk];

    /// BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Uk => "uk",
        }
    }

    /// The language's own name, for the language switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Uk => "Українська",
        }
    }

    /// Matches a language tag (`uk`, `uk-UA`, `EN-gb`) to a supported locale.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.tag() == primary)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Chooses the locale: an explicit `?lang=`, then the `lang` cookie, then the
/// browser's `Accept-Language` by preference weight, then `fallback`.
pub fn negotiate(
    query: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
    fallback: Locale,
) -> Locale {
    query
        .and_then(Locale::from_tag)
        .or_else(|| cookie.and_then(Locale::from_tag))
        .or_else(|| accept_language.and_then(best_accepted))
        .unwrap_or(fallback)
}

/// The supported locale with the highest `q` in an `Accept-Language` header.
fn best_accepted(header: &str) -> Option<Locale> {
    let mut best: Option<(Locale, f32)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        if let Some(locale) = Locale::from_tag(tag)
            && best.is_none_or(|(_, q)| quality > q)
        {
            best = Some((locale, quality));
        }
    }
    best.map(|(locale, _)| locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_beats_cookie_beats_header() {
        assert_eq!(
            negotiate(Some("uk"), Some("en"), Some("en"), Locale::En),
            Locale::Uk
        );
        assert_eq!(
            negotiate(None, Some("uk"), Some("en"), Locale::En),
            Locale::Uk
        );
        assert_eq!(
            negotiate(None, None, Some("uk-UA,uk;q=0.9"), Locale::En),
            Locale::Uk
        );
        assert_eq!(negotiate(None, None, None, Locale::Uk), Locale::Uk);
    }

    #[test]
    fn unsupported_values_fall_through() {
        assert_eq!(
            negotiate(Some("de"), Some("fr"), Some("uk"), Locale::En),
            Locale::Uk
        );
        assert_eq!(
            negotiate(Some("<script>"), None, None, Locale::En),
            Locale::En
        );
    }

    #[test]
    fn accept_language_weights_are_respected() {
        assert_eq!(best_accepted("de-DE,en;q=0.5,uk;q=0.8"), Some(Locale::Uk));
        assert_eq!(best_accepted("uk;q=0,en;q=0.1"), Some(Locale::En));
        assert_eq!(best_accepted("fr, de"), None);
        assert_eq!(best_accepted("*"), None);
    }
}
