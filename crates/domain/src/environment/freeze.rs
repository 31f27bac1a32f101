//! Freeze windows: spans of time in which an environment takes no new
//! deployments. A window recurs weekly ("Fri 16:00" to "Mon 08:00") or
//! happens once (local date-times), always in a named IANA time zone, so
//! "08:00 Europe/Berlin" stays 08:00 across daylight saving changes.
//! A `deny` window freezes inside; `allow_only` windows freeze everything
//! outside all of them.

use crate::FieldError;
use chrono::{
    DateTime, Datelike, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The raw shape of one window, as the API takes it and the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = FreezeWindow))]
#[serde(deny_unknown_fields)]
pub struct FreezeWindowSpec {
    /// `weekly` ("Fri 16:00") or `once` ("2026-12-24T00:00").
    pub kind: String,
    /// `deny` (frozen inside; the default) or `allow_only` (frozen outside
    /// all allow_only windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// An IANA time zone name, e.g. `Europe/Berlin` or `UTC`.
    pub time_zone: String,
    /// Where the window starts, local to `time_zone`.
    pub from: String,
    /// Where it ends (exclusive); a weekly window may wrap the week's end.
    pub to: String,
    /// Shown to whoever is refused, e.g. "release freeze".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeMode {
    Deny,
    AllowOnly,
}

impl FreezeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeMode::Deny => "deny",
            FreezeMode::AllowOnly => "allow_only",
        }
    }
}

/// A moment of the week, local to a window's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekTime {
    pub day: Weekday,
    pub time: NaiveTime,
}

impl WeekTime {
    /// `"Fri 16:00"`: a day (Mon..Sun, any case) and a 24-hour time.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (day, time) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{value:?} is not a day and time like \"Fri 16:00\""))?;
        let day = day.parse::<Weekday>().map_err(|_| {
            format!("{day:?} is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun")
        })?;
        Ok(WeekTime {
            day,
            time: parse_time(time.trim())?,
        })
    }

    /// Minutes since Monday 00:00.
    fn minute_of_week(self) -> i64 {
        let minutes = self
            .time
            .signed_duration_since(NaiveTime::MIN)
            .num_minutes();
        i64::from(self.day.num_days_from_monday()) * 24 * 60 + minutes
    }

    /// This moment in the week that starts on `monday`.
    fn in_week_of(self, monday: NaiveDate) -> NaiveDateTime {
        let date = monday + Days::new(u64::from(self.day.num_days_from_monday()));
        date.and_time(self.time)
    }
}

impl fmt::Display for WeekTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.day, self.time.format("%H:%M"))
    }
}

fn parse_time(value: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| format!("{value:?} is not a time: use HH:MM, 00:00 to 23:59"))
}

fn parse_local(value: &str) -> Result<NaiveDateTime, String> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value.trim(), format).ok())
        .ok_or_else(|| {
            format!("{value:?} is not a local date and time: use YYYY-MM-DDTHH:MM, e.g. 2026-12-24T16:00")
        })
}

/// When a window happens, local to its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeSpan {
    /// Every week from `from` to `to`; `to` before `from` wraps the week.
    Weekly { from: WeekTime, to: WeekTime },
    /// Once, from `from` to `to`.
    Once {
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
}

/// One parsed window.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeWindow {
    pub mode: FreezeMode,
    pub zone: Tz,
    pub span: FreezeSpan,
    pub reason: Option<String>,
}

const MAX_REASON_CHARS: usize = 200;

impl FreezeWindow {
    /// An error names the field under `prefix` (e.g. `freeze_windows[0]`).
    pub fn parse(spec: &FreezeWindowSpec, prefix: &str) -> Result<Self, FieldError> {
        let field = |name: &str| {
            let field = format!("{prefix}.{name}");
            move |message: String| FieldError { field, message }
        };
        let mode = match spec.mode.as_deref() {
            None | Some("deny") => FreezeMode::Deny,
            Some("allow_only") => FreezeMode::AllowOnly,
            Some(other) => {
                return Err(field("mode")(format!(
                    "unknown mode {other:?}: expected \"deny\" or \"allow_only\""
                )));
            }
        };
        let zone = spec.time_zone.parse::<Tz>().map_err(|_| {
            field("time_zone")(format!(
                "{:?} is not an IANA time zone (e.g. \"Europe/Berlin\", \"UTC\")",
                spec.time_zone
            ))
        })?;
        let span = match spec.kind.as_str() {
            "weekly" => Self::weekly(spec, prefix)?,
            "once" => Self::once(spec, prefix)?,
            other => {
                return Err(field("kind")(format!(
                    "unknown kind {other:?}: expected \"weekly\" or \"once\""
                )));
            }
        };
        let reason = spec
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(field("reason")(format!(
                "a reason has at most {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(FreezeWindow {
            mode,
            zone,
            span,
            reason: reason.map(str::to_owned),
        })
    }

    fn weekly(spec: &FreezeWindowSpec, prefix: &str) -> Result<FreezeSpan, FieldError> {
        let at = |name: &str, value: &str| {
            WeekTime::parse(value).map_err(|message| FieldError {
                field: format!("{prefix}.{name}"),
                message,
            })
        };
        let (from, to) = (at("from", &spec.from)?, at("to", &spec.to)?);
        if from == to {
            return Err(FieldError {
                field: format!("{prefix}.to"),
                message: format!("a weekly window from {from} to {to} is empty"),
            });
        }
        Ok(FreezeSpan::Weekly { from, to })
    }

    fn once(spec: &FreezeWindowSpec, prefix: &str) -> Result<FreezeSpan, FieldError> {
        let at = |name: &str, value: &str| {
            parse_local(value).map_err(|message| FieldError {
                field: format!("{prefix}.{name}"),
                message,
            })
        };
        let (from, to) = (at("from", &spec.from)?, at("to", &spec.to)?);
        if to <= from {
            return Err(FieldError {
                field: format!("{prefix}.to"),
                message: format!("the window must end after it starts ({from} to {to})"),
            });
        }
        Ok(FreezeSpan::Once { from, to })
    }

    /// The normalized raw shape, as stored and answered.
    pub fn spec(&self) -> FreezeWindowSpec {
        let (kind, from, to) = match self.span {
            FreezeSpan::Weekly { from, to } => ("weekly", from.to_string(), to.to_string()),
            FreezeSpan::Once { from, to } => {
                let local = |at: NaiveDateTime| at.format("%Y-%m-%dT%H:%M").to_string();
                ("once", local(from), local(to))
            }
        };
        FreezeWindowSpec {
            kind: kind.into(),
            mode: Some(self.mode.as_str().into()),
            time_zone: self.zone.name().into(),
            from,
            to,
            reason: self.reason.clone(),
        }
    }

    /// The window's occurrences (UTC, end exclusive) that could touch `at`
    /// or come next after it.
    fn occurrences_near(&self, at: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        match self.span {
            FreezeSpan::Once { from, to } => vec![(self.start(from), self.end(to))],
            FreezeSpan::Weekly { from, to } => {
                let local_date = at.with_timezone(&self.zone).date_naive();
                let monday =
                    local_date - Days::new(u64::from(local_date.weekday().num_days_from_monday()));
                let wraps = to.minute_of_week() <= from.minute_of_week();
                (-1i64..=2)
                    .map(|week| monday + Duration::weeks(week))
                    .map(|monday| {
                        let start = from.in_week_of(monday);
                        let mut end = to.in_week_of(monday);
                        if wraps {
                            end += Duration::weeks(1);
                        }
                        (self.start(start), self.end(end))
                    })
                    .collect()
            }
        }
    }

    /// A start that falls in a daylight-saving gap begins when the clocks
    /// jump; one that happens twice begins at its first reading.
    fn start(&self, local: NaiveDateTime) -> DateTime<Utc> {
        resolve(self.zone, local, |earliest, _| earliest)
    }

    /// An end that happens twice ends at its second reading, so the window
    /// covers both.
    fn end(&self, local: NaiveDateTime) -> DateTime<Utc> {
        resolve(self.zone, local, |_, latest| latest)
    }
}

/// "deny weekly Fri 16:00 to Mon 08:00 Europe/Berlin (release freeze)".
impl fmt::Display for FreezeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.spec();
        write!(
            f,
            "{} {} {} to {} {}",
            self.mode.as_str(),
            spec.kind,
            spec.from,
            spec.to,
            spec.time_zone
        )?;
        match &self.reason {
            Some(reason) => write!(f, " ({reason})"),
            None => Ok(()),
        }
    }
}

/// `local` in `zone` as UTC; a local time skipped by a clock change moves
/// to the first minute after the gap.
fn resolve(
    zone: Tz,
    local: NaiveDateTime,
    pick: fn(DateTime<Tz>, DateTime<Tz>) -> DateTime<Tz>,
) -> DateTime<Utc> {
    let mut candidate = local;
    loop {
        match zone.from_local_datetime(&candidate) {
            LocalResult::Single(at) => return at.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, latest) => {
                return pick(earliest, latest).with_timezone(&Utc);
            }
            // No zone skips more than a day; minute steps stay exact.
            LocalResult::None => candidate += Duration::minutes(1),
        }
    }
}

/// Why an admin deploys through a freeze: said, and kept short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassReason(String);

impl BreakGlassReason {
    pub fn parse(value: &str) -> Result<Self, crate::Invalid> {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > MAX_REASON_CHARS {
            return Err(crate::Invalid::new(format!(
                "breaking a freeze needs a reason of 1 to {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(BreakGlassReason(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every freeze window of one environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FreezeWindows(pub Vec<FreezeWindow>);

/// Whether an environment takes deployments at a moment.
#[derive(Debug, Clone, PartialEq)]
pub enum FreezeState {
    Open,
    Frozen {
        /// When the freeze ends, with overlapping and adjacent windows
        /// chained into one.
        until: DateTime<Utc>,
        /// The same moment in the zone of the window that ends it.
        until_local: DateTime<Tz>,
        reason: String,
    },
}

impl FreezeState {
    pub fn is_frozen(&self) -> bool {
        matches!(self, FreezeState::Frozen { .. })
    }
}

/// `Mon 2026-12-14 08:00 Europe/Berlin`.
pub fn describe_local(at: &DateTime<Tz>) -> String {
    format!(
        "{} {}",
        at.format("%a %Y-%m-%d %H:%M"),
        at.timezone().name()
    )
}

/// How far a chain of windows is followed: a freeze with no end in sight
/// (allow_only windows all in the past) reports this far ahead.
const HORIZON_DAYS: i64 = 366;
const ALLOW_ONLY_REASON: &str = "outside the allowed windows";

/// The end of one frozen stretch containing `at`, its zone and reason.
struct Stretch {
    end: DateTime<Utc>,
    zone: Tz,
    reason: String,
}

impl FreezeWindows {
    pub fn parse(specs: &[FreezeWindowSpec], field: &str) -> Result<Self, FieldError> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| FreezeWindow::parse(spec, &format!("{field}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(FreezeWindows)
    }

    pub fn specs(&self) -> Vec<FreezeWindowSpec> {
        self.0.iter().map(FreezeWindow::spec).collect()
    }

    /// Frozen or open at `now`; a freeze runs on through every window that
    /// overlaps or touches it.
    pub fn state_at(&self, now: DateTime<Utc>) -> FreezeState {
        let Some(first) = self.stretch_at(now) else {
            return FreezeState::Open;
        };
        let horizon = now + Duration::days(HORIZON_DAYS);
        let (mut end, mut zone) = (first.end, first.zone);
        while end < horizon {
            match self.stretch_at(end) {
                Some(next) if next.end > end => (end, zone) = (next.end, next.zone),
                _ => break,
            }
        }
        let until = end.min(horizon);
        FreezeState::Frozen {
            until,
            until_local: until.with_timezone(&zone),
            reason: first.reason,
        }
    }

    /// The longest frozen stretch holding `at`: a deny window around it, or
    /// the gap between allow_only windows.
    fn stretch_at(&self, at: DateTime<Utc>) -> Option<Stretch> {
        let denied = self.of_mode(FreezeMode::Deny).flat_map(|window| {
            window
                .occurrences_near(at)
                .into_iter()
                .filter(|(start, end)| *start <= at && at < *end)
                .map(|(_, end)| Stretch {
                    end,
                    zone: window.zone,
                    reason: window
                        .reason
                        .clone()
                        .unwrap_or_else(|| "freeze window".into()),
                })
        });
        denied
            .chain(self.outside_allowed(at))
            .max_by_key(|stretch| stretch.end)
    }

    /// With allow_only windows, `at` outside all of them is frozen until the
    /// next one starts.
    fn outside_allowed(&self, at: DateTime<Utc>) -> Option<Stretch> {
        let allowed: Vec<_> = self.of_mode(FreezeMode::AllowOnly).collect();
        let first = allowed.first()?;
        let occurrences = allowed.iter().flat_map(|window| {
            window
                .occurrences_near(at)
                .into_iter()
                .map(move |(start, end)| (start, end, window.zone))
        });
        let mut next: Option<(DateTime<Utc>, Tz)> = None;
        for (start, end, zone) in occurrences {
            if start <= at && at < end {
                return None;
            }
            if start > at && next.is_none_or(|(soonest, _)| start < soonest) {
                next = Some((start, zone));
            }
        }
        let (end, zone) = next.unwrap_or((at + Duration::days(HORIZON_DAYS), first.zone));
        Some(Stretch {
            end,
            zone,
            reason: first
                .reason
                .clone()
                .unwrap_or_else(|| ALLOW_ONLY_REASON.into()),
        })
    }

    fn of_mode(&self, mode: FreezeMode) -> impl Iterator<Item = &FreezeWindow> {
        self.0.iter().filter(move |window| window.mode == mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, mode: &str, from: &str, to: &str) -> FreezeWindowSpec {
        FreezeWindowSpec {
            kind: kind.into(),
            mode: Some(mode.into()),
            time_zone: "Europe/Berlin".into(),
            from: from.into(),
            to: to.into(),
            reason: Some("release freeze".into()),
        }
    }

    fn windows(specs: &[FreezeWindowSpec]) -> FreezeWindows {
        FreezeWindows::parse(specs, "freeze_windows").unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn until(state: &FreezeState) -> (String, String) {
        match state {
            FreezeState::Frozen {
                until, until_local, ..
            } => (until.to_rfc3339(), describe_local(until_local)),
            FreezeState::Open => panic!("open, expected frozen"),
        }
    }

    fn weekend() -> FreezeWindows {
        windows(&[spec("weekly", "deny", "Fri 16:00", "Mon 08:00")])
    }

    #[test]
    fn a_weekly_window_wraps_the_week_end() {
        // Friday 2026-12-11 17:00 Berlin (CET, UTC+1).
        let state = weekend().state_at(utc("2026-12-11T16:00:00Z"));
        assert_eq!(
            until(&state),
            (
                "2026-12-14T07:00:00+00:00".into(),
                "Mon 2026-12-14 08:00 Europe/Berlin".into()
            )
        );
        // Sunday evening and Monday 07:59 are still inside.
        assert!(weekend().state_at(utc("2026-12-13T20:00:00Z")).is_frozen());
        assert!(weekend().state_at(utc("2026-12-14T06:59:00Z")).is_frozen());
    }

    #[test]
    fn outside_a_weekly_window_is_open_and_its_end_is_exclusive() {
        assert_eq!(
            weekend().state_at(utc("2026-12-14T07:00:00Z")),
            FreezeState::Open
        );
        assert_eq!(
            weekend().state_at(utc("2026-12-09T12:00:00Z")),
            FreezeState::Open
        );
        assert_eq!(
            weekend().state_at(utc("2026-12-11T14:59:59Z")),
            FreezeState::Open
        );
    }

    #[test]
    fn the_reason_is_the_windows() {
        let FreezeState::Frozen { reason, .. } = weekend().state_at(utc("2026-12-12T12:00:00Z"))
        else {
            panic!("open");
        };
        assert_eq!(reason, "release freeze");
    }

    #[test]
    fn spring_forward_keeps_local_wall_times() {
        // Berlin skips 02:00-03:00 on Sunday 2026-03-29: Monday 08:00 is CEST.
        let state = weekend().state_at(utc("2026-03-28T12:00:00Z"));
        assert_eq!(until(&state).0, "2026-03-30T06:00:00+00:00");
        // A window ending inside the gap ends when the clocks jump.
        let gap = windows(&[spec("weekly", "deny", "Sun 01:00", "Sun 02:30")]);
        let state = gap.state_at(utc("2026-03-29T00:30:00Z"));
        assert_eq!(until(&state).0, "2026-03-29T01:00:00+00:00");
    }

    #[test]
    fn fall_back_covers_both_readings_of_the_repeated_hour() {
        // Berlin repeats 02:00-03:00 on Sunday 2026-10-25; 02:30 ends at its
        // second reading (CET, 01:30 UTC).
        let repeated = windows(&[spec("weekly", "deny", "Sat 22:00", "Sun 02:30")]);
        let state = repeated.state_at(utc("2026-10-25T00:45:00Z"));
        assert_eq!(until(&state).0, "2026-10-25T01:30:00+00:00");
        // Monday 08:00 after the change is CET again.
        let state = weekend().state_at(utc("2026-10-24T12:00:00Z"));
        assert_eq!(until(&state).0, "2026-10-26T07:00:00+00:00");
    }

    #[test]
    fn a_one_off_window_is_frozen_inside_only() {
        let once = windows(&[spec("once", "deny", "2026-12-24T00:00", "2026-12-27T00:00")]);
        assert_eq!(
            once.state_at(utc("2026-12-23T22:59:00Z")),
            FreezeState::Open
        );
        let state = once.state_at(utc("2026-12-23T23:00:00Z"));
        assert_eq!(
            until(&state),
            (
                "2026-12-26T23:00:00+00:00".into(),
                "Sun 2026-12-27 00:00 Europe/Berlin".into()
            )
        );
        assert_eq!(
            once.state_at(utc("2026-12-26T23:00:00Z")),
            FreezeState::Open
        );
    }

    #[test]
    fn overlapping_and_adjacent_windows_chain_into_one_end() {
        let chained = windows(&[
            spec("weekly", "deny", "Fri 16:00", "Mon 08:00"),
            // Adjacent: starts as the weekend ends.
            spec("weekly", "deny", "Mon 08:00", "Mon 12:00"),
            // Overlapping the Monday one, in another zone.
            FreezeWindowSpec {
                time_zone: "UTC".into(),
                ..spec("once", "deny", "2026-12-14T10:00", "2026-12-14T15:00")
            },
        ]);
        let state = chained.state_at(utc("2026-12-12T12:00:00Z"));
        assert_eq!(
            until(&state),
            (
                "2026-12-14T15:00:00+00:00".into(),
                "Mon 2026-12-14 15:00 UTC".into()
            )
        );
    }

    #[test]
    fn allow_only_freezes_outside_every_allowed_window() {
        let office_hours = windows(&[
            spec("weekly", "allow_only", "Tue 09:00", "Tue 17:00"),
            spec("weekly", "allow_only", "Thu 09:00", "Thu 17:00"),
        ]);
        // Tuesday 10:00 Berlin: allowed.
        assert_eq!(
            office_hours.state_at(utc("2026-12-08T09:00:00Z")),
            FreezeState::Open
        );
        // Tuesday 18:00 Berlin: frozen until Thursday 09:00.
        let state = office_hours.state_at(utc("2026-12-08T17:00:00Z"));
        assert_eq!(until(&state).1, "Thu 2026-12-10 09:00 Europe/Berlin");
        // Friday: frozen until next Tuesday, across the week's end.
        let state = office_hours.state_at(utc("2026-12-11T12:00:00Z"));
        assert_eq!(until(&state).1, "Tue 2026-12-15 09:00 Europe/Berlin");
    }

    #[test]
    fn a_deny_window_inside_an_allowed_one_still_freezes() {
        let mixed = windows(&[
            spec("weekly", "allow_only", "Mon 00:00", "Fri 00:00"),
            spec("weekly", "deny", "Wed 12:00", "Wed 13:00"),
        ]);
        assert!(mixed.state_at(utc("2026-12-09T11:30:00Z")).is_frozen());
        assert_eq!(
            mixed.state_at(utc("2026-12-09T12:30:00Z")),
            FreezeState::Open
        );
        // Thursday night: frozen through the allow gap to Monday 00:00.
        let state = mixed.state_at(utc("2026-12-11T12:00:00Z"));
        assert_eq!(until(&state).1, "Mon 2026-12-14 00:00 Europe/Berlin");
    }

    #[test]
    fn no_windows_is_open() {
        assert_eq!(
            FreezeWindows::default().state_at(Utc::now()),
            FreezeState::Open
        );
    }

    #[test]
    fn bad_input_names_its_field() {
        let field_of = |spec: FreezeWindowSpec| {
            FreezeWindows::parse(&[spec], "freeze_windows")
                .unwrap_err()
                .field
        };
        let ok = spec("weekly", "deny", "Fri 16:00", "Mon 08:00");
        let zone = FreezeWindowSpec {
            time_zone: "Mars/Olympus".into(),
            ..ok.clone()
        };
        assert_eq!(field_of(zone), "freeze_windows[0].time_zone");
        assert_eq!(
            field_of(spec("weekly", "deny", "Fry 16:00", "Mon 08:00")),
            "freeze_windows[0].from"
        );
        assert_eq!(
            field_of(spec("weekly", "deny", "Fri 16:00", "Mon 24:00")),
            "freeze_windows[0].to"
        );
        assert_eq!(
            field_of(spec("once", "deny", "2026-12-24T00:00", "2026-12-24T00:00")),
            "freeze_windows[0].to"
        );
        assert_eq!(
            field_of(spec("once", "deny", "2026-12-24T00:00", "2026-12-23T00:00")),
            "freeze_windows[0].to"
        );
        assert_eq!(
            field_of(spec("once", "deny", "tomorrow", "2026-12-23T00:00")),
            "freeze_windows[0].from"
        );
        assert_eq!(
            field_of(spec("daily", "deny", "Fri 16:00", "Mon 08:00")),
            "freeze_windows[0].kind"
        );
        assert_eq!(
            field_of(spec("weekly", "block", "Fri 16:00", "Mon 08:00")),
            "freeze_windows[0].mode"
        );
    }

    #[test]
    fn specs_round_trip_normalized() {
        let parsed = windows(&[FreezeWindowSpec {
            mode: None,
            ..spec("weekly", "deny", "fri 16:00", "Mon 08:00")
        }]);
        let specs = parsed.specs();
        assert_eq!(specs[0].from, "Fri 16:00");
        assert_eq!(specs[0].mode.as_deref(), Some("deny"));
        assert_eq!(windows(&specs), parsed);
    }
}
