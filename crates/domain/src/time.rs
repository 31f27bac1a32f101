//! How timestamps are shown: every API answer, page and notification
//! writes the database's milliseconds since the epoch the same way.

use std::fmt;

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-03T12:00:00.000Z`.
pub fn rfc3339_millis(millis: i64) -> String {
    Rfc3339Millis(millis).to_string()
}

/// [`rfc3339_millis`] as a `Display`, to write a timestamp into an answer
/// without a `String` of its own (a release page writes fifty).
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339Millis(pub i64);

impl Rfc3339Millis {
    /// The text as bytes, for writers that fill a buffer themselves; `None`
    /// outside four-digit years (never in practice), which only `Display`
    /// spells.
    pub fn ascii(self) -> Option<[u8; 24]> {
        let (days, millis_of_day) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let seconds = millis_of_day / 1000;
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, seconds / 3600);
        put(14, 2, seconds / 60 % 60);
        put(17, 2, seconds % 60);
        put(20, 3, millis_of_day % 1000);
        Some(text)
    }
}

impl fmt::Display for Rfc3339Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ascii() {
            // Only ASCII digits and separators were written.
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            None => {
                // Outside four-digit years, as chrono spells them.
                let t = chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default();
                f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }
        }
    }
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

    #[test]
    fn the_same_text_as_chronos_rfc3339() {
        let edges = [-86_400_001, -1, 1, 999, 951_782_400_000, 4_102_444_799_999];
        // Every 997,001,999 ms from 1900 to 2100: all months, leap days and times of day.
        let spread = (-2_208_988_800_000i64..4_102_444_800_000).step_by(997_001_999);
        for millis in edges.into_iter().chain(spread) {
            let chrono = chrono::DateTime::from_timestamp_millis(millis)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(rfc3339_millis(millis), chrono, "{millis}");
        }
    }
}
