//! How pages write times, durations and weights.

/// A moment as pages show it: relative text, and the absolute time for the
/// `title` (hover) and the `datetime` attribute app.js refreshes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    /// "2025-11-27 08:00:00 UTC", for the hover.
    pub absolute: String,
    /// "3 min ago".
    pub relative: String,
}

impl When {
    pub fn at(millis: i64, now: i64) -> When {
        let t = chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default();
        When {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            absolute: t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            relative: relative(millis, now),
        }
    }
}

/// As HTML: `<time>` with the absolute time on hover. Every part is text
/// this module formatted (digits, letters, '-', ':'), so templates print it
/// unescaped (`{{ when|safe }}`).
impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            self.iso, self.absolute, self.relative
        )
    }
}

/// "just now", "42 s ago", "3 min ago", "2 h ago", "5 d ago", "in 3 min".
/// app.js computes the same words in the browser.
pub fn relative(millis: i64, now: i64) -> String {
    let delta = (now - millis) / 1000;
    let ahead = delta < 0;
    let s = delta.abs();
    let amount = if s < 5 {
        return "just now".into();
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} d", s / 86_400)
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A duration: "850 ms", "42 s", "3 min 05 s", "2 h 03 min", "3 d 4 h".
pub fn duration(millis: i64) -> String {
    let ms = millis.max(0);
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms} ms")
    } else if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// A weight in percent, without a pointless ".0".
pub fn percent(weight: f64) -> String {
    if (weight - weight.round()).abs() < 0.05 {
        format!("{:.0}", weight)
    } else {
        format!("{weight:.1}")
    }
}

/// The first 12 characters of a commit id.
pub fn short_commit(commit: &str) -> String {
    commit.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = 1_000_000_000;
        assert_eq!(relative(now - 2_000, now), "just now");
        assert_eq!(relative(now - 42_000, now), "42 s ago");
        assert_eq!(relative(now - 185_000, now), "3 min ago");
        assert_eq!(relative(now - 7_300_000, now), "2 h ago");
        assert_eq!(relative(now - 5 * 86_400_000, now), "5 d ago");
        assert_eq!(relative(now + 180_000, now), "in 3 min");
        let w = When::at(1_764_230_400_123, 1_764_230_400_123);
        assert_eq!(w.iso, "2025-11-27T08:00:00.123Z");
        assert_eq!(w.absolute, "2025-11-27 08:00:00 UTC");
        assert_eq!(
            w.to_string(),
            "<time datetime=\"2025-11-27T08:00:00.123Z\" title=\"2025-11-27 08:00:00 UTC\">just now</time>"
        );
    }

    #[test]
    fn durations_and_weights() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(185_000), "3 min 05 s");
        assert_eq!(duration(7_380_000), "2 h 03 min");
        assert_eq!(duration(273_600_000), "3 d 4 h");
        assert_eq!(percent(30.0), "30");
        assert_eq!(percent(33.33), "33.3");
        assert_eq!(short_commit(&"a".repeat(40)), "a".repeat(12));
    }
}
