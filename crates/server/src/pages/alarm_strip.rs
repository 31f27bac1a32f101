//! The CloudWatch alarms' strips: each alarm's states over the deployment
//! as coloured bands on the traffic chart's time axis, with its current
//! state, whether it stopped the deployment, and its history's reasons.

use super::axis::{LEFT, RIGHT, Tick, TimeAxis, WIDTH, coord, elapsed_label};
use super::format::When;
use switchyard_core::app::views::ChartWindow;

/// A strip's viewBox height, and its band's top and height inside it.
pub const HEIGHT: f64 = 20.0;
const BAND_TOP: f64 = 2.0;
const BAND_HEIGHT: f64 = 16.0;
/// The axis under the strips: room for the time labels.
pub const AXIS_HEIGHT: f64 = 28.0;

/// CloudWatch's `StateValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's own word, as the console and the CLI show it.
    pub fn word(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// The badge and band class.
    pub fn class(self) -> &'static str {
        match self {
            AlarmState::Ok => "good",
            AlarmState::Alarm => "bad",
            AlarmState::InsufficientData => "todo",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmChange {
    /// Wall-clock epoch ms.
    pub at_ms: i64,
    pub state: AlarmState,
    /// CloudWatch's `StateReason`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTrack {
    pub name: String,
    pub state: AlarmState,
    /// This alarm going off is what stopped (and rolled back) the deployment.
    pub stopped_deployment: bool,
    /// In any order (CloudWatch lists history newest first).
    pub changes: Vec<AlarmChange>,
}

pub struct StripInput<'a> {
    /// The traffic chart's time axis.
    pub window: ChartWindow,
    /// The deployment's start, and its end (or now).
    pub start: i64,
    pub end: i64,
    /// For the changes' relative times.
    pub now: i64,
    pub alarms: &'a [AlarmTrack],
}

/// One band: an alarm's state from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub from: i64,
    pub to: i64,
    pub state: AlarmState,
}

/// The states an alarm went through between `start` and `end`. Before its
/// first change in the range it was in the state of the change before
/// the range, else (nothing known) insufficient data; an alarm without any
/// change in its history was in its `current` state all along (the core
/// keeps the history from the deployment's start). Changes to the state
/// it already had extend the band.
pub fn segments(
    changes: &[AlarmChange],
    current: AlarmState,
    start: i64,
    end: i64,
) -> Vec<Segment> {
    if end <= start {
        return Vec::new();
    }
    let mut sorted: Vec<&AlarmChange> = changes.iter().collect();
    sorted.sort_by_key(|c| c.at_ms);
    let before = match sorted.iter().rev().find(|c| c.at_ms <= start) {
        Some(c) => c.state,
        None if sorted.is_empty() => current,
        None => AlarmState::InsufficientData,
    };
    let mut out = vec![Segment {
        from: start,
        to: end,
        state: before,
    }];
    for c in sorted.iter().filter(|c| c.at_ms > start && c.at_ms < end) {
        let last = out.last_mut().expect("starts with one");
        if c.state == last.state {
            continue;
        }
        last.to = c.at_ms;
        out.push(Segment {
            from: c.at_ms,
            to: end,
            state: c.state,
        });
    }
    out
}

/// A band as the template draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub x: String,
    pub width: String,
    pub class: &'static str,
    /// For the hover: "ALARM from 1:30 to 2:45".
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangeView {
    pub when: When,
    /// "+1:30" after the deployment started, or "before".
    pub offset: String,
    pub state: &'static str,
    pub class: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmView {
    pub name: String,
    pub state: &'static str,
    pub class: &'static str,
    pub stopped_deployment: bool,
    pub bands: Vec<Band>,
    /// Oldest first: the change that set the state the deployment started
    /// in, then those during it.
    pub changes: Vec<ChangeView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Strips {
    pub width: f64,
    pub height: f64,
    pub axis_height: f64,
    pub band_top: f64,
    pub band_height: f64,
    pub left: f64,
    pub right: f64,
    pub x_ticks: Vec<Tick>,
    /// Those that stopped the deployment first, then in ALARM, then by name.
    pub alarms: Vec<AlarmView>,
    /// How many are in ALARM now.
    pub alarming: usize,
}

fn offset(at: i64, start: i64) -> String {
    if at < start {
        "before".to_owned()
    } else {
        format!("+{}", elapsed_label((at - start) / 1000))
    }
}

fn view(track: &AlarmTrack, input: &StripInput<'_>, axis: &TimeAxis) -> AlarmView {
    let bands = segments(&track.changes, track.state, input.start, input.end)
        .into_iter()
        .map(|s| {
            let x = axis.x(s.from);
            Band {
                x: coord(x),
                width: coord((axis.x(s.to) - x).max(0.5)),
                class: s.state.class(),
                title: format!(
                    "{} from {} to {}",
                    s.state.word(),
                    elapsed_label((s.from - input.start) / 1000),
                    elapsed_label((s.to - input.start) / 1000)
                ),
            }
        })
        .collect();
    let mut sorted: Vec<&AlarmChange> = track.changes.iter().collect();
    sorted.sort_by_key(|c| c.at_ms);
    let first_inside = sorted
        .iter()
        .position(|c| c.at_ms > input.start)
        .unwrap_or(sorted.len());
    let changes = sorted[first_inside.saturating_sub(1)..]
        .iter()
        .filter(|c| c.at_ms < input.end)
        .map(|c| ChangeView {
            when: When::at(c.at_ms, input.now),
            offset: offset(c.at_ms, input.start),
            state: c.state.word(),
            class: c.state.class(),
            reason: c.reason.clone(),
        })
        .collect();
    AlarmView {
        name: track.name.clone(),
        state: track.state.word(),
        class: track.state.class(),
        stopped_deployment: track.stopped_deployment,
        bands,
        changes,
    }
}

pub fn build(input: &StripInput<'_>) -> Strips {
    let axis = TimeAxis::new(input.window);
    let mut tracks: Vec<&AlarmTrack> = input.alarms.iter().collect();
    tracks.sort_by_key(|t| {
        (
            !t.stopped_deployment,
            t.state != AlarmState::Alarm,
            t.name.clone(),
        )
    });
    Strips {
        width: WIDTH,
        height: HEIGHT,
        axis_height: AXIS_HEIGHT,
        band_top: BAND_TOP,
        band_height: BAND_HEIGHT,
        left: LEFT,
        right: RIGHT,
        x_ticks: axis.ticks(),
        alarms: tracks.iter().map(|t| view(t, input, &axis)).collect(),
        alarming: input
            .alarms
            .iter()
            .filter(|t| t.state == AlarmState::Alarm)
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart;
    use AlarmState::*;

    fn change(at_ms: i64, state: AlarmState) -> AlarmChange {
        AlarmChange {
            at_ms,
            state,
            reason: format!("Threshold crossed at {at_ms}"),
        }
    }

    fn seg(from: i64, to: i64, state: AlarmState) -> Segment {
        Segment { from, to, state }
    }

    #[test]
    fn without_history_the_state_is_the_current_one_all_along() {
        assert_eq!(segments(&[], Ok, 1_000, 5_000), [seg(1_000, 5_000, Ok)]);
        assert_eq!(segments(&[], Alarm, 5_000, 5_000), []);
    }

    #[test]
    fn before_the_first_change_in_the_range_nothing_is_known() {
        let changes = [change(3_000, Alarm)];
        assert_eq!(
            segments(&changes, Alarm, 1_000, 5_000),
            [
                seg(1_000, 3_000, InsufficientData),
                seg(3_000, 5_000, Alarm)
            ]
        );
    }

    #[test]
    fn the_change_before_the_range_sets_the_first_state() {
        // Newest first, as CloudWatch lists them.
        let changes = [
            change(9_000, Ok),
            change(4_000, Alarm),
            change(500, Ok),
            change(100, InsufficientData),
        ];
        assert_eq!(
            segments(&changes, Ok, 1_000, 8_000),
            [seg(1_000, 4_000, Ok), seg(4_000, 8_000, Alarm)]
        );
    }

    #[test]
    fn changes_to_the_same_state_extend_the_band() {
        let changes = [
            change(2_000, Ok),
            change(3_000, Ok),
            change(4_000, Alarm),
            change(4_500, Alarm),
        ];
        assert_eq!(
            segments(&changes, Alarm, 1_000, 6_000),
            [
                seg(1_000, 2_000, InsufficientData),
                seg(2_000, 4_000, Ok),
                seg(4_000, 6_000, Alarm)
            ]
        );
    }

    #[test]
    fn strips_share_the_traffic_charts_axis_and_list_the_reasons() {
        let window = ChartWindow::new(0, 100_000, None, None);
        let alarms = [
            AlarmTrack {
                name: "prod-latency".into(),
                state: Ok,
                stopped_deployment: false,
                changes: vec![change(-5_000, Ok)],
            },
            AlarmTrack {
                name: "prod-5xx".into(),
                state: Alarm,
                stopped_deployment: true,
                changes: vec![change(-5_000, Ok), change(60_000, Alarm)],
            },
        ];
        let strips = build(&StripInput {
            window,
            start: 0,
            end: 100_000,
            now: 100_000,
            alarms: &alarms,
        });
        let traffic = chart::build(&chart::ChartInput {
            window,
            end: 100_000,
            running: false,
            traffic: &[],
            planned: None,
        });
        assert_eq!(strips.width, traffic.width);
        assert_eq!(strips.x_ticks, traffic.x_ticks);
        assert_eq!(strips.alarming, 1);
        let stopped = &strips.alarms[0];
        assert_eq!(stopped.name, "prod-5xx");
        assert!(stopped.stopped_deployment);
        assert_eq!((stopped.state, stopped.class), ("ALARM", "bad"));
        let axis = TimeAxis::new(window);
        let classes: Vec<_> = stopped.bands.iter().map(|b| b.class).collect();
        assert_eq!(classes, ["good", "bad"]);
        assert_eq!(stopped.bands[0].x, coord(LEFT));
        assert_eq!(stopped.bands[1].x, coord(axis.x(60_000)));
        assert_eq!(stopped.bands[1].title, "ALARM from 1:00 to 1:40");
        let offsets: Vec<_> = stopped.changes.iter().map(|c| c.offset.as_str()).collect();
        assert_eq!(offsets, ["before", "+1:00"]);
        assert_eq!(stopped.changes[1].reason, "Threshold crossed at 60000");
        assert_eq!(strips.alarms[1].bands.len(), 1);
        assert_eq!(strips.alarms[1].changes.len(), 1);
    }
}
