//! The metric gate's panel: at each hold of the deployment, the window the
//! gate watches, and once judged, blue's and green's figures side by side,
//! the verdict with its reasons, and what the gate did.

use super::format::When;
use switchyard_domain::environment::{GateAction, GateDecision, GateOutcome, SideFigures};

/// One gate, as the panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateView {
    /// "the ready wait", or the ECS stage.
    pub hold: &'static str,
    /// The badge: "watching", "passed", "failed", "insufficient data".
    pub verdict: String,
    pub class: &'static str,
    pub window_start: When,
    pub window_end: When,
    /// What the gate did, as a sentence; None while it watches.
    pub action: Option<String>,
    /// Requests, 5xx rate and p99 of blue and green, once judged.
    pub rows: Vec<FigureRow>,
    pub reasons: Vec<String>,
}

/// One figure of both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureRow {
    pub name: &'static str,
    pub blue: String,
    pub green: String,
}

pub fn build(gates: &[GateDecision], now: i64) -> Vec<GateView> {
    gates.iter().map(|gate| view(gate, now)).collect()
}

fn view(gate: &GateDecision, now: i64) -> GateView {
    let (verdict, class) = match gate.outcome {
        None => ("watching".to_owned(), "todo"),
        Some(GateOutcome::Passed) => ("passed".to_owned(), "good"),
        Some(GateOutcome::Failed) => ("failed".to_owned(), "bad"),
        Some(GateOutcome::InsufficientData) => ("insufficient data".to_owned(), "todo"),
    };
    let rows = match (gate.blue, gate.green) {
        (Some(blue), Some(green)) => figure_rows(&blue, &green),
        _ => Vec::new(),
    };
    GateView {
        hold: gate.hold.describe(),
        verdict,
        class,
        window_start: When::at(gate.window_start, now),
        window_end: When::at(gate.window_end, now),
        action: gate.action.map(sentence),
        rows,
        reasons: gate.reasons.clone(),
    }
}

fn sentence(action: GateAction) -> String {
    let mut s = format!("The gate {}.", action.describe());
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

fn figure_rows(blue: &SideFigures, green: &SideFigures) -> Vec<FigureRow> {
    let p99 = |f: &SideFigures| f.p99_ms.map_or("–".to_owned(), |ms| format!("{ms:.0} ms"));
    vec![
        FigureRow {
            name: "Requests",
            blue: format!("{:.0}", blue.requests),
            green: format!("{:.0}", green.requests),
        },
        FigureRow {
            name: "5xx rate",
            blue: format!("{:.1} %", blue.error_rate_pct),
            green: format!("{:.1} %", green.error_rate_pct),
        },
        FigureRow {
            name: "p99 latency",
            blue: p99(blue),
            green: p99(green),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_domain::environment::GateHold;

    fn figures(p99_ms: f64) -> SideFigures {
        SideFigures {
            requests: 240.0,
            error_rate_pct: 0.0,
            p99_ms: Some(p99_ms),
        }
    }

    #[test]
    fn a_watching_gate_shows_its_window_only() {
        let gate = GateDecision::seen(GateHold::ReadyWait, 1_500, 1_000, 5);
        let [view] = build(&[gate], 2_000).try_into().unwrap();
        assert_eq!((view.verdict.as_str(), view.class), ("watching", "todo"));
        assert_eq!(view.hold, "the ready wait");
        assert_eq!(view.window_start.iso, "1970-01-01T00:00:02.000Z");
        assert_eq!(view.window_end.iso, "1970-01-01T00:00:07.000Z");
        assert!(view.rows.is_empty() && view.action.is_none());
    }

    #[test]
    fn a_judged_gate_shows_both_sides_and_what_it_did() {
        let gate = GateDecision {
            outcome: Some(GateOutcome::Failed),
            blue: Some(figures(312.4)),
            green: Some(figures(3011.0)),
            reasons: vec!["green's p99 3011 ms is above 3 × blue's 312 ms".into()],
            action: Some(GateAction::RolledBack),
            decided_at: Some(8_000),
            ..GateDecision::seen(GateHold::PostTestTrafficShift, 1_500, 1_000, 5)
        };
        let [view] = build(&[gate], 9_000).try_into().unwrap();
        assert_eq!((view.verdict.as_str(), view.class), ("failed", "bad"));
        assert_eq!(view.action.as_deref(), Some("The gate rolled it back."));
        let p99 = &view.rows[2];
        assert_eq!(
            (p99.blue.as_str(), p99.green.as_str()),
            ("312 ms", "3011 ms")
        );
        assert_eq!(view.rows[1].green, "0.0 %");
    }
}
