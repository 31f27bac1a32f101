//! Plain domain types. Every type here is built by parsing, so a value that
//! exists is a valid one; nothing in this module does I/O.

/// An enum whose variants are AWS's own names for a status: `ALL`,
/// `parse`, `as_str` and `Display` spell them, and so does serde (stored
/// runs hold them in JSON).
macro_rules! aws_status {
    ($(#[$meta:meta])* $name:ident, $what:literal, [$($variant:ident),+ $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($variant),+
        }

        aws_status!(@names $name, $what, [$($variant = stringify!($variant)),+]);
    };
    // AWS names that are not Rust names (`PRE_SCALE_UP`) are spelled out.
    ($(#[$meta:meta])* $name:ident, $what:literal, [$($variant:ident = $aws:literal),+ $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $aws)] $variant),+
        }

        aws_status!(@names $name, $what, [$($variant = $aws),+]);
    };
    (@names $name:ident, $what:literal, [$($variant:ident = $aws:expr),+]) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(value: &str) -> Result<Self, $crate::Invalid> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|s| s.as_str() == value)
                    .ok_or_else(|| {
                        $crate::Invalid::new(format!(
                            concat!("unknown ", $what, " {:?}: expected one of {}"),
                            value,
                            Self::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    })
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $aws),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod deployment;
pub mod deployment_config;
pub mod environment;
pub mod ids;
pub mod pipeline;
pub mod release;
pub mod service_deployment;
pub mod slack;
#[cfg(feature = "sqlx")]
mod sql;
pub mod task_definition;
pub mod task_definition_diff;
pub mod task_log;
pub mod time;
pub mod user;
pub mod webhook;

use std::fmt;

/// Why a value was refused. The caller knows which field it came from and
/// attaches that with [`ForField::for_field`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A refused value together with the input field it came from, e.g.
/// `resources.cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

pub trait ForField<T> {
    fn for_field(self, field: &str) -> Result<T, FieldError>;
}

impl<T> ForField<T> for Result<T, Invalid> {
    fn for_field(self, field: &str) -> Result<T, FieldError> {
        self.map_err(|Invalid(message)| FieldError {
            field: field.to_owned(),
            message,
        })
    }
}

/// Checks the parts every free-text value shares: length in characters and
/// no control characters (which break logs, terminals and tables).
pub(crate) fn check_text(value: &str, what: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 {
            Invalid::new(format!("{what} must not be empty"))
        } else {
            Invalid::new(format!("{what} must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(Invalid::new(format!(
            "{what} must be at most {max} characters (got {len})"
        )));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(Invalid::new(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}
