//! Pure rules of the portal: typed values and the decisions made on them.
//! Nothing here performs I/O, so everything is unit-tested in place.

/// Defines a closed set of values with a stored form and an English label.
macro_rules! catalog {
    ($(#[$meta:meta])* $name:ident, $expected:literal, { $($variant:ident => ($stored:literal, $label:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every value, in the order forms list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Stored form, also used in forms and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored),+
                }
            }

            /// English name.
            pub fn label(self) -> &'static str {
                match self {
                    $(Self::$variant => $label),+
                }
            }

            /// `(stored value, English name)` of every value, for a select field.
            pub fn options() -> Vec<(String, String)> {
                Self::ALL
                    .iter()
                    .map(|v| (v.as_str().to_owned(), v.label().to_owned()))
                    .collect()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::clinic::InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s.trim())
                    .ok_or($crate::domain::clinic::InvalidValue($expected))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod audit;
pub mod clinic;
pub mod clinic_profile;
pub mod consent;
pub mod csv;
pub mod deadline;
pub mod diff;
pub mod email;
pub mod files;
pub mod forms;
pub mod jobs;
pub mod locale;
pub mod markdown;
pub mod meta;
pub mod notices;
pub mod pagination;
pub mod permissions;
pub mod recipients;
pub mod requests;
pub mod retention;
pub mod roles;
pub mod security;
pub mod session;
pub mod sso;
pub mod subprocessors;
pub mod team;
pub mod text;
pub mod tokens;
