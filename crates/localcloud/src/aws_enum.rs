//! AWS's status and stage names as enums. The local cloud cannot use the
//! domain crate's `aws_status!` (it depends on no switchyard crate, so it
//! checks the control plane from outside), and ECS spells its names in
//! SCREAMING_CASE, so each variant names its wire spelling. State files hold
//! the same spelling, so those written before these enums still load.

/// `aws_enum!(Name, "what it is", { Variant = "WIRE_NAME", ... })`: an enum
/// with `ALL`, `as_str`, `parse`, `Display` and serde in the wire spelling.
macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The value of this name, or `None` for one AWS does not define.
            pub fn parse(value: &str) -> Option<$name> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Parses a request field: an unknown name is the caller's
            /// error, answered with `exception`.
            #[allow(dead_code)]
            pub fn parse_field(
                value: &str,
                field: &str,
                exception: &str,
            ) -> Result<$name, $crate::wire::AwsError> {
                $name::parse(value).ok_or_else(|| {
                    let allowed: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::wire::AwsError::new(
                        exception,
                        format!(
                            concat!("Invalid ", $what, " {:?} for {}: expected one of {}."),
                            value,
                            field,
                            allowed.join(", ")
                        ),
                    )
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&value).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("unknown ", $what, " {:?}"), value))
                })
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(value: $name) -> serde_json::Value {
                serde_json::Value::from(value.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    aws_enum!(Colour, "colour", { Red = "RED", LightBlue = "LIGHT_BLUE" });

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        assert_eq!(Colour::LightBlue.as_str(), "LIGHT_BLUE");
        assert_eq!(
            serde_json::to_string(&Colour::LightBlue).unwrap(),
            "\"LIGHT_BLUE\""
        );
        let parsed: Colour = serde_json::from_str("\"RED\"").unwrap();
        assert_eq!(parsed, Colour::Red);
        assert!(serde_json::from_str::<Colour>("\"GREEN\"").is_err());
        assert_eq!(Colour::parse("GREEN"), None);
        let refused =
            Colour::parse_field("GREEN", "colour", "InvalidParameterException").unwrap_err();
        assert_eq!(refused.code, "InvalidParameterException");
        assert!(
            refused.message.contains("RED, LIGHT_BLUE"),
            "{}",
            refused.message
        );
    }
}
