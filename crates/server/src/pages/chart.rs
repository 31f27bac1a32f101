//! The traffic-weight chart's geometry: planned schedule and observed green
//! weight as SVG step paths. The store reduces the samples to one row per
//! pixel column (its first, lowest, highest and last weight), so the step
//! shape survives and the page costs the same for 100 samples or 100,000.

use super::axis::{LEFT, RIGHT, Tick, TimeAxis, WIDTH, coord};
use std::fmt::Write;
use switchyard_core::app::views::{ChartWindow, PlannedShift};
use switchyard_core::store::views::TrafficColumn;

/// The SVG's coordinate system (the viewBox, as wide as every drawing on
/// the time axis); the plot area inside it.
pub const HEIGHT: f64 = 240.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = HEIGHT - 28.0;
/// The plot's width in pixel columns: what traffic samples are reduced to.
pub const COLUMNS: u32 = (RIGHT - LEFT) as u32;

/// What the template draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// Dashed: the schedule the deployment config prescribes.
    pub planned_path: Option<String>,
    /// Solid: the weights the tracker observed.
    pub actual_path: Option<String>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    /// Where "now" is, while the deployment runs.
    pub now_x: Option<String>,
}

pub struct ChartInput<'a> {
    /// The time axis (see [`ChartWindow`]); its columns are the store's.
    pub window: ChartWindow,
    /// The deployment's end, or now while it runs.
    pub end: i64,
    pub running: bool,
    /// The observed weight per pixel column, oldest first.
    pub traffic: &'a [TrafficColumn],
    pub planned: Option<&'a PlannedShift>,
}

fn y(weight: f64) -> f64 {
    BOTTOM - weight.clamp(0.0, 100.0) / 100.0 * (BOTTOM - TOP)
}

/// A step path being written: only moves that change something.
struct StepPath {
    d: String,
    x: f64,
    y: f64,
}

impl StepPath {
    fn start(x: f64, y: f64) -> StepPath {
        let x = (x * 10.0).round() / 10.0;
        let y = (y * 10.0).round() / 10.0;
        StepPath {
            d: format!("M{} {}", coord(x), coord(y)),
            x,
            y,
        }
    }

    fn h(&mut self, x: f64) {
        let x = (x * 10.0).round() / 10.0;
        if x != self.x {
            let _ = write!(self.d, "H{}", coord(x));
            self.x = x;
        }
    }

    fn v(&mut self, y: f64) {
        let y = (y * 10.0).round() / 10.0;
        if y != self.y {
            let _ = write!(self.d, "V{}", coord(y));
            self.y = y;
        }
    }
}

pub fn build(input: &ChartInput<'_>) -> Chart {
    let scale = TimeAxis::new(input.window);

    let planned_path = input.planned.map(|p| {
        let mut path = StepPath::start(LEFT, y(0.0));
        for (offset, weight) in &p.steps {
            path.h(scale.x(p.starts_at + offset));
            path.v(y(*weight));
        }
        path.h(RIGHT);
        path.d
    });

    let actual_path = input.traffic.first().map(|first| {
        let mut path = StepPath::start(scale.x(first.first_at), y(first.first_weight));
        for c in input.traffic {
            path.h(scale.x(c.first_at));
            path.v(y(c.first_weight));
            // Both extremes, ending on the column's last weight.
            let visits: &[f64] = if c.last_weight == c.high {
                &[c.low, c.high]
            } else if c.last_weight == c.low {
                &[c.high, c.low]
            } else {
                &[c.low, c.high, c.last_weight]
            };
            for w in visits {
                path.v(y(*w));
            }
        }
        // The last weight holds until the end (or now).
        let last_at = input.traffic.last().map_or(input.end, |c| c.last_at);
        path.h(scale.x(input.end.max(last_at)));
        path.d
    });

    let y_ticks = [0, 25, 50, 75, 100]
        .into_iter()
        .map(|w| Tick {
            pos: coord(y(f64::from(w))),
            label: format!("{w} %"),
        })
        .collect();

    let x_ticks = scale.ticks();

    Chart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: RIGHT,
        top: TOP,
        bottom: BOTTOM,
        planned_path,
        actual_path,
        y_ticks,
        x_ticks,
        now_x: input.running.then(|| coord(scale.x(input.end))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(path: &str) -> Vec<(char, f64)> {
        let mut out = Vec::new();
        let mut current: Option<(char, String)> = None;
        for c in path.chars() {
            if c.is_ascii_alphabetic() {
                if let Some((k, v)) = current.take() {
                    out.push((k, v.trim().split(' ').next_back().unwrap().parse().unwrap()));
                }
                current = Some((c, String::new()));
            } else if let Some((_, v)) = current.as_mut() {
                v.push(c);
            }
        }
        if let Some((k, v)) = current {
            out.push((k, v.trim().parse().unwrap()));
        }
        out
    }

    /// What the store's reduction makes of these samples (one column per
    /// sample's pixel), for tests of the drawing alone.
    fn columns(samples: &[(i64, f64)], window: ChartWindow) -> Vec<TrafficColumn> {
        let mut out: Vec<TrafficColumn> = Vec::new();
        for &(at, w) in samples {
            let column = ((at - window.start) * i64::from(COLUMNS) / window.span)
                .clamp(0, i64::from(COLUMNS) - 1);
            match out.last_mut() {
                Some(c) if c.column == column => {
                    c.low = c.low.min(w);
                    c.high = c.high.max(w);
                    c.last_at = at;
                    c.last_weight = w;
                    c.samples += 1;
                }
                _ => out.push(TrafficColumn {
                    column,
                    first_at: at,
                    first_weight: w,
                    low: w,
                    high: w,
                    last_at: at,
                    last_weight: w,
                    samples: 1,
                }),
            }
        }
        out
    }

    #[test]
    fn planned_and_actual_are_step_paths() {
        let planned = PlannedShift {
            starts_at: 10_000,
            projected: false,
            steps: vec![(0, 50.0), (10_000, 100.0)],
            clock_ratio: 1.0,
        };
        let samples = [(0, 0.0), (10_000, 50.0), (20_000, 100.0)];
        let window = ChartWindow::new(0, 25_000, planned.end(), Some(20_000));
        let chart = build(&ChartInput {
            window,
            end: 25_000,
            running: false,
            traffic: &columns(&samples, window),
            planned: Some(&planned),
        });
        let actual = chart.actual_path.unwrap();
        assert!(actual.starts_with(&format!("M{} {}", coord(LEFT), coord(BOTTOM))));
        let ys: Vec<f64> = moves(&actual)
            .into_iter()
            .filter(|(k, _)| *k == 'V')
            .map(|(_, v)| v)
            .collect();
        assert_eq!(ys, vec![(y(50.0) * 10.0).round() / 10.0, y(100.0)]);
        let planned = chart.planned_path.unwrap();
        assert!(planned.contains(&format!("V{}", coord(y(50.0)))));
        assert!(planned.ends_with(&format!("H{}", coord(RIGHT))));
        assert_eq!(chart.now_x, None);
        assert_eq!(chart.y_ticks.len(), 5);
        assert_eq!(chart.x_ticks[1].label, "0:05");
    }

    #[test]
    fn a_full_chart_stays_within_the_pixel_budget_and_keeps_the_extremes() {
        // A shift with noisy weights sampled every 50 ms for 500 s.
        let samples: Vec<(i64, f64)> = (0..10_000)
            .map(|i| {
                let step = f64::from((i / 1000 + 1) * 10).min(100.0);
                (i64::from(i) * 50, step - f64::from(i % 3))
            })
            .collect();
        let window = ChartWindow::new(0, 500_000, None, Some(499_950));
        let traffic = columns(&samples, window);
        assert!(traffic.len() <= COLUMNS as usize);
        let chart = build(&ChartInput {
            window,
            end: 500_000,
            running: true,
            traffic: &traffic,
            planned: None,
        });
        let actual = chart.actual_path.unwrap();
        let commands = moves(&actual);
        assert!(
            commands.len() <= COLUMNS as usize * 5 + 2,
            "{} commands",
            commands.len()
        );
        assert!(actual.len() < 24_000, "{} bytes", actual.len());
        let ys: Vec<f64> = commands
            .iter()
            .filter(|(k, _)| *k == 'V')
            .map(|(_, v)| *v)
            .collect();
        let top = ys.iter().cloned().fold(f64::MAX, f64::min);
        assert_eq!(top, coord(y(100.0)).parse::<f64>().unwrap());
        let bottom = ys.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(bottom, coord(y(8.0)).parse::<f64>().unwrap());
        assert!(chart.now_x.is_some());
    }
}
