//! The deployment page's time axis, shared by every drawing on it (traffic,
//! blue/green metrics, alarm strips): one viewBox width and one plot span,
//! so drawings stacked at the same CSS width line up to the pixel.

use switchyard_core::app::views::ChartWindow;

/// The width of every time-axis SVG's viewBox, and the plot's left and
/// right edges inside it.
pub const WIDTH: f64 = 720.0;
pub const LEFT: f64 = 66.0;
pub const RIGHT: f64 = WIDTH - 12.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub pos: String,
    pub label: String,
}

/// Epoch milliseconds to x in the viewBox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub start: i64,
    pub span: f64,
}

impl TimeAxis {
    pub fn new(window: ChartWindow) -> TimeAxis {
        TimeAxis {
            start: window.start,
            span: window.span as f64,
        }
    }

    /// Clamped to the plot: what lies outside the window is drawn on its edge.
    pub fn x(&self, t: i64) -> f64 {
        let fraction = ((t - self.start) as f64 / self.span).clamp(0.0, 1.0);
        LEFT + fraction * (RIGHT - LEFT)
    }

    /// At most seven round times since the start, labelled "m:ss".
    pub fn ticks(&self) -> Vec<Tick> {
        let step_seconds = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
            86_400,
        ]
        .into_iter()
        .find(|s| self.span / 1000.0 / f64::from(*s) <= 6.0)
        .unwrap_or(86_400 * 7);
        (0..)
            .map(|i| i64::from(i) * i64::from(step_seconds) * 1000)
            .take_while(|offset| (*offset as f64) <= self.span)
            .map(|offset| Tick {
                pos: coord(self.x(self.start + offset)),
                label: elapsed_label(offset / 1000),
            })
            .collect()
    }
}

/// One decimal, without a trailing ".0".
pub fn coord(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// "0:45", "12:00", "2:05:00": time since the deployment started.
pub fn elapsed_label(seconds: i64) -> String {
    if seconds < 3600 {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    } else {
        format!(
            "{}:{:02}:{:02}",
            seconds / 3600,
            (seconds % 3600) / 60,
            seconds % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_labels() {
        assert_eq!(elapsed_label(45), "0:45");
        assert_eq!(elapsed_label(720), "12:00");
        assert_eq!(elapsed_label(7500), "2:05:00");
    }

    #[test]
    fn the_axis_spans_the_plot_and_clamps() {
        let axis = TimeAxis::new(ChartWindow::new(1_000, 101_000, None, None));
        assert_eq!(axis.x(1_000), LEFT);
        assert_eq!(axis.x(0), LEFT);
        assert_eq!(axis.x(1_000 + axis.span as i64), RIGHT);
        assert_eq!(axis.x(10_000_000), RIGHT);
        let ticks = axis.ticks();
        assert!(ticks.len() <= 7);
        assert_eq!(ticks[0].pos, coord(LEFT));
        assert_eq!(ticks[1].label, "0:30");
    }
}
