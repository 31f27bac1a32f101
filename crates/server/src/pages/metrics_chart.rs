//! The blue/green metrics charts' geometry: request rate, 5xx rate and p99
//! latency of each side's target group, one point per CloudWatch period at
//! its midpoint, on the traffic chart's time axis (same viewBox width and
//! plot span, so the charts line up under it).
//!
//! A period without requests has no rate and no latency (CloudWatch
//! publishes no datapoint then): the line breaks there rather than drop to
//! an invented zero. So does a missing period.

use super::axis::{LEFT, RIGHT, Tick, TimeAxis, WIDTH, coord, elapsed_label};
use std::fmt::Write;
use switchyard_core::app::views::ChartWindow;

/// The viewBox's height and the plot's top and bottom inside it (room above
/// for the unit, below for the time labels).
pub const HEIGHT: f64 = 160.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = HEIGHT - 28.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Blue,
    Green,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Blue, Side::Green];

    /// The CSS class, as the traffic chart and task sets use it.
    pub fn class(self) -> &'static str {
        match self {
            Side::Blue => "blue",
            Side::Green => "green",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Side::Blue => "Blue",
            Side::Green => "Green",
        }
    }
}

/// One side's listener metrics over one period of the cloud's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPeriod {
    pub side: Side,
    /// Wall-clock epoch ms.
    pub start_ms: i64,
    pub requests: f64,
    /// Responses with a 5xx status from the targets.
    pub target_5xx: f64,
    pub p99_seconds: Option<f64>,
}

pub struct MetricsInput<'a> {
    /// The traffic chart's time axis.
    pub window: ChartWindow,
    /// Now, while the deployment runs: the period in progress is measured
    /// over the part of it that has passed.
    pub now: Option<i64>,
    /// A period's wall-clock length when there are too few periods to tell
    /// (one cloud minute, shorter with a time scale).
    pub period_ms: i64,
    pub periods: &'a [MetricPeriod],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub class: &'static str,
    pub label: &'static str,
    /// The runs of consecutive periods with data, as one path of lines.
    pub path: Option<String>,
    /// Periods with data but no neighbour to join: (x, y) of a dot each.
    pub dots: Vec<(String, String)>,
}

/// One chart, as the template draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChart {
    /// For ids in the page ("requests", "errors", "latency").
    pub id: &'static str,
    pub title: &'static str,
    /// In words, for the heading; short, over the y axis's labels.
    pub unit: &'static str,
    pub axis_unit: &'static str,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub now_x: Option<String>,
    /// Blue, then green.
    pub series: Vec<Series>,
}

/// A side's figures in its latest period with requests, for reading
/// without the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub class: &'static str,
    pub label: &'static str,
    /// "2:00" since the deployment started, or None: no requests yet.
    pub period: Option<String>,
    /// With their units ("12.5 req/s", "0.40 %", "180 ms"), or "–".
    pub requests: String,
    pub errors: String,
    pub p99: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Request rate, 5xx rate, p99 latency.
    pub charts: Vec<MetricChart>,
    /// Blue, then green.
    pub latest: Vec<Latest>,
}

/// One period of one side, measured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    start: i64,
    /// Wall-clock ms the figures cover.
    length: i64,
    /// req/s, % of requests, ms: None without requests.
    values: Option<[Option<f64>; 3]>,
}

impl Point {
    fn mid(&self) -> i64 {
        self.start + self.length / 2
    }
}

/// The length of one period: the shortest step between distinct period
/// starts (a missing period makes a longer one), or `period_ms` when there
/// is no step to measure.
pub fn period_length(periods: &[MetricPeriod], period_ms: i64) -> i64 {
    let mut starts: Vec<i64> = periods.iter().map(|p| p.start_ms).collect();
    starts.sort_unstable();
    starts.dedup();
    starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(period_ms)
        .max(1)
}

fn points(side: Side, input: &MetricsInput<'_>, length: i64) -> Vec<Point> {
    let mut periods: Vec<&MetricPeriod> = input.periods.iter().filter(|p| p.side == side).collect();
    periods.sort_by_key(|p| p.start_ms);
    periods.dedup_by_key(|p| p.start_ms);
    periods
        .into_iter()
        .map(|p| {
            let length = match input.now {
                Some(now) if now > p.start_ms => (now - p.start_ms).min(length),
                _ => length,
            };
            let values = (p.requests > 0.0).then(|| {
                [
                    Some(p.requests / (length as f64 / 1000.0)),
                    Some(p.target_5xx / p.requests * 100.0),
                    p.p99_seconds.map(|s| s * 1000.0),
                ]
            });
            Point {
                start: p.start_ms,
                length,
                values,
            }
        })
        .collect()
}

/// Whether a period's middle is on the axis. The core reads from a period
/// before the deployment began: drawn, it would pile up on the axis's edge.
fn on_axis(p: &Point, axis: &TimeAxis) -> bool {
    let mid = p.mid();
    mid >= axis.start && (mid - axis.start) as f64 <= axis.span
}

/// The drawing of one metric of one side: lines through runs of
/// consecutive periods with a value, dots for lone ones.
fn series(
    side: Side,
    points: &[Point],
    metric: usize,
    length: i64,
    axis: &TimeAxis,
    y: impl Fn(f64) -> f64,
) -> Series {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut previous: Option<i64> = None;
    for p in points {
        if !on_axis(p, axis) {
            previous = None;
            continue;
        }
        let value = p.values.and_then(|v| v[metric]);
        // A step longer than one and a half periods skips one.
        let joined = previous.is_some_and(|s| (p.start - s) * 2 <= length * 3);
        match value {
            Some(v) => {
                let at = (axis.x(p.mid()), y(v));
                match runs.last_mut() {
                    Some(run) if joined => run.push(at),
                    _ => runs.push(vec![at]),
                }
                previous = Some(p.start);
            }
            None => previous = None,
        }
    }
    let mut path = String::new();
    let mut dots = Vec::new();
    for run in runs {
        if let [(x, y)] = run[..] {
            dots.push((coord(x), coord(y)));
            continue;
        }
        for (i, (x, y)) in run.into_iter().enumerate() {
            let command = if i == 0 { 'M' } else { 'L' };
            let _ = write!(path, "{command}{} {}", coord(x), coord(y));
        }
    }
    Series {
        class: side.class(),
        label: side.label(),
        path: (!path.is_empty()).then_some(path),
        dots,
    }
}

/// A round top for the y axis and its step: 1, 2, 2.5 or 5 times a power
/// of ten, at most four steps, at least `floor`.
pub fn nice_scale(max: f64, floor: f64) -> (f64, f64) {
    let max = max.max(floor);
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= rough * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    ((max / step - 1e-9).ceil() * step, step)
}

/// A tick label: "0", "0.5", "2.5", "40", "1.5k", "2M".
pub fn number(v: f64) -> String {
    let (v, suffix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{:.2}", (v * 100.0).round() / 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// A figure for the table, with a sensible precision.
fn figure(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Spec {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    axis_unit: &'static str,
    /// The y axis reaches at least this high, so a flat line of small
    /// values does not fill the chart.
    floor: f64,
    cap: f64,
}

const SPECS: [Spec; 3] = [
    Spec {
        id: "requests",
        title: "Request rate",
        unit: "requests per second",
        axis_unit: "req/s",
        floor: 1.0,
        cap: f64::INFINITY,
    },
    Spec {
        id: "errors",
        title: "5xx rate",
        unit: "% of requests",
        axis_unit: "%",
        floor: 1.0,
        cap: 100.0,
    },
    Spec {
        id: "latency",
        title: "p99 latency",
        unit: "milliseconds",
        axis_unit: "ms",
        floor: 10.0,
        cap: f64::INFINITY,
    },
];

pub fn build(input: &MetricsInput<'_>) -> Metrics {
    let axis = TimeAxis::new(input.window);
    let length = period_length(input.periods, input.period_ms);
    let sides = Side::BOTH.map(|side| (side, points(side, input, length)));
    let x_ticks = axis.ticks();
    let now_x = input.now.map(|now| coord(axis.x(now)));
    let charts = SPECS
        .iter()
        .enumerate()
        .map(|(metric, spec)| {
            let max = sides
                .iter()
                .flat_map(|(_, points)| points.iter())
                .filter(|p| on_axis(p, &axis))
                .filter_map(|p| p.values.and_then(|v| v[metric]))
                .fold(0.0, f64::max);
            let (top, step) = nice_scale(max.min(spec.cap), spec.floor);
            let y = |v: f64| BOTTOM - v.clamp(0.0, top) / top * (BOTTOM - TOP);
            let y_ticks = (0..)
                .map(|i| f64::from(i) * step)
                .take_while(|v| *v <= top * (1.0 + 1e-9))
                .map(|v| Tick {
                    pos: coord(y(v)),
                    label: number(v),
                })
                .collect();
            MetricChart {
                id: spec.id,
                title: spec.title,
                unit: spec.unit,
                axis_unit: spec.axis_unit,
                width: WIDTH,
                height: HEIGHT,
                left: LEFT,
                right: RIGHT,
                top: TOP,
                bottom: BOTTOM,
                y_ticks,
                x_ticks: x_ticks.clone(),
                now_x: now_x.clone(),
                series: sides
                    .iter()
                    .map(|(side, points)| series(*side, points, metric, length, &axis, y))
                    .collect(),
            }
        })
        .collect();
    let latest = sides
        .iter()
        .map(|(side, points)| {
            let last = points.iter().rev().find_map(|p| Some((p, p.values?)));
            let text = |metric: usize, unit: &str| {
                last.and_then(|(_, v)| v[metric])
                    .map_or_else(|| "–".to_owned(), |v| format!("{} {unit}", figure(v)))
            };
            Latest {
                class: side.class(),
                label: side.label(),
                period: last.map(|(p, _)| elapsed_label((p.start - axis.start).max(0) / 1000)),
                requests: text(0, "req/s"),
                errors: text(1, "%"),
                p99: text(2, "ms"),
            }
        })
        .collect();
    Metrics { charts, latest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart;

    fn period(side: Side, start_ms: i64, requests: f64) -> MetricPeriod {
        MetricPeriod {
            side,
            start_ms,
            requests,
            target_5xx: requests / 10.0,
            p99_seconds: (requests > 0.0).then_some(0.25),
        }
    }

    fn subpaths(path: &str) -> usize {
        path.matches('M').count()
    }

    fn input(periods: &[MetricPeriod], period_ms: i64) -> MetricsInput<'_> {
        MetricsInput {
            window: ChartWindow::new(0, 10_000, None, None),
            now: None,
            period_ms,
            periods,
        }
    }

    #[test]
    fn period_lengths_come_from_consecutive_starts() {
        // A local cloud at --time-scale 60: one cloud minute per second.
        let periods: Vec<_> = [0, 1_000, 2_000, 4_000]
            .into_iter()
            .map(|s| period(Side::Blue, s, 10.0))
            .collect();
        assert_eq!(period_length(&periods, 60_000), 1_000);
        // Both sides share the clock: duplicates are not a step.
        let both = [period(Side::Blue, 500, 1.0), period(Side::Green, 500, 1.0)];
        assert_eq!(period_length(&both, 60_000), 60_000);
        assert_eq!(period_length(&both[..1], 2_000), 2_000);
        assert_eq!(period_length(&[], 2_000), 2_000);
        // 10 requests in a one-second period: 10 req/s, 10 % 5xx, 250 ms.
        let metrics = build(&input(&periods, 60_000));
        let blue = &metrics.latest[0];
        assert_eq!(
            (
                blue.requests.as_str(),
                blue.errors.as_str(),
                blue.p99.as_str()
            ),
            ("10.0 req/s", "10.0 %", "250 ms")
        );
        assert_eq!(blue.period.as_deref(), Some("0:04"));
        assert_eq!(metrics.latest[1].period, None);
        assert_eq!(metrics.latest[1].requests, "–");
    }

    #[test]
    fn a_lone_period_is_as_long_as_period_ms_and_drawn_as_a_dot() {
        let periods = [period(Side::Green, 1_000, 30.0)];
        let metrics = build(&input(&periods, 2_000));
        assert_eq!(metrics.latest[1].requests, "15.0 req/s");
        let green = &metrics.charts[0].series[1];
        assert_eq!(green.path, None);
        let axis = TimeAxis::new(ChartWindow::new(0, 10_000, None, None));
        assert_eq!(green.dots.len(), 1);
        assert_eq!(green.dots[0].0, coord(axis.x(2_000)));
    }

    #[test]
    fn periods_without_requests_and_missing_periods_break_the_lines() {
        let periods = [
            period(Side::Blue, 0, 10.0),
            period(Side::Blue, 1_000, 10.0),
            period(Side::Blue, 2_000, 0.0),
            period(Side::Blue, 3_000, 10.0),
            period(Side::Blue, 4_000, 10.0),
            // 5_000 missing
            period(Side::Blue, 6_000, 10.0),
            period(Side::Blue, 7_000, 10.0),
        ];
        let metrics = build(&input(&periods, 60_000));
        for chart in &metrics.charts {
            let blue = &chart.series[0];
            let path = blue.path.as_deref().unwrap();
            assert_eq!(subpaths(path), 3, "{}: {path}", chart.id);
            assert_eq!(path.matches('L').count(), 3, "{}: {path}", chart.id);
            assert!(blue.dots.is_empty());
            // No point at the period without requests, and none at zero.
            let axis = TimeAxis::new(ChartWindow::new(0, 10_000, None, None));
            assert!(!path.contains(&format!("{} ", coord(axis.x(2_500)))));
            assert!(!path.contains(&format!(" {}", coord(BOTTOM))));
            assert_eq!(chart.series[1].path, None);
        }
    }

    #[test]
    fn points_sit_at_period_midpoints_on_the_traffic_charts_axis() {
        let window = ChartWindow::new(10_000, 130_000, None, None);
        let periods = [
            period(Side::Blue, 10_000, 60.0),
            period(Side::Blue, 70_000, 60.0),
            period(Side::Green, 70_000, 120.0),
        ];
        let metrics = build(&MetricsInput {
            window,
            now: None,
            period_ms: 60_000,
            periods: &periods,
        });
        let traffic = chart::build(&chart::ChartInput {
            window,
            end: 130_000,
            running: false,
            traffic: &[],
            planned: None,
        });
        let axis = TimeAxis::new(window);
        for c in &metrics.charts {
            assert_eq!(c.width, traffic.width);
            assert_eq!((c.left, c.right), (traffic.left, traffic.right));
            assert_eq!(c.x_ticks, traffic.x_ticks);
        }
        let blue = metrics.charts[0].series[0].path.as_deref().unwrap();
        assert!(blue.starts_with(&format!("M{} ", coord(axis.x(40_000)))));
        assert!(blue.contains(&format!("L{} ", coord(axis.x(100_000)))));
        // 1 and 2 req/s: the axis is 0 to 2 in steps of 0.5.
        let labels: Vec<_> = metrics.charts[0]
            .y_ticks
            .iter()
            .map(|t| t.label.as_str())
            .collect();
        assert_eq!(labels, ["0", "0.5", "1", "1.5", "2"]);
        assert_eq!(metrics.charts[0].series[1].dots.len(), 1);
    }

    #[test]
    fn the_period_in_progress_is_measured_over_what_has_passed() {
        let periods = [
            period(Side::Blue, 0, 60.0),
            period(Side::Blue, 60_000, 15.0),
        ];
        let metrics = build(&MetricsInput {
            window: ChartWindow::new(0, 75_000, None, None),
            now: Some(75_000),
            period_ms: 60_000,
            periods: &periods,
        });
        assert_eq!(metrics.latest[0].requests, "1.00 req/s");
        assert!(metrics.charts[0].now_x.is_some());
        let y_top = &metrics.charts[0].y_ticks.last().unwrap().label;
        assert_eq!(y_top, "1");
    }

    #[test]
    fn periods_off_the_axis_are_not_piled_on_its_edge() {
        // Periods of a second (a local cloud at --time-scale 60), read
        // from before the deployment began at 10 s.
        let periods: Vec<_> = (5..14)
            .map(|s| period(Side::Green, s * 1_000, 10.0))
            .collect();
        let metrics = build(&MetricsInput {
            window: ChartWindow::new(10_000, 14_000, None, None),
            now: None,
            period_ms: 60_000,
            periods: &periods,
        });
        let green = &metrics.charts[0].series[1];
        let path = green.path.as_deref().unwrap();
        assert_eq!(subpaths(path), 1, "{path}");
        assert_eq!(path.matches('L').count(), 3, "{path}");
        assert!(!path.contains(&format!("M{} ", coord(LEFT))), "{path}");
        assert!(green.dots.is_empty());
        assert_eq!(metrics.latest[1].period.as_deref(), Some("0:03"));
    }

    #[test]
    fn y_scales_are_round() {
        assert_eq!(nice_scale(0.0, 1.0), (1.0, 0.25));
        assert_eq!(nice_scale(7.0, 1.0), (8.0, 2.0));
        assert_eq!(nice_scale(38.0, 1.0), (40.0, 10.0));
        assert_eq!(nice_scale(100.0, 1.0), (100.0, 25.0));
        assert_eq!(nice_scale(230.0, 10.0), (300.0, 100.0));
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(40.0), "40");
        assert_eq!(number(15_000.0), "15k");
        assert_eq!(number(2_500_000.0), "2.5M");
    }
}
