//! How timestamps are shown: every API answer, page and notification
//! writes the database's milliseconds since the epoch the same way.

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-03T12:00:00.000Z`.
pub fn rfc3339_millis(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_in_utc() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_796_299_200_123),
            "2026-12-03T12:00:00.123Z"
        );
    }
}
