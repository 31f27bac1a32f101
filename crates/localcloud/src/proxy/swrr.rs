//! Smooth weighted round-robin, as nginx does it: every pick adds each
//! weight to its running score, takes the highest score and takes the total
//! off the winner. The order is deterministic and the split is exact over
//! every window of `total` picks (90/10 gives exactly one in ten), where a
//! random choice would only converge.

#[derive(Debug)]
pub(super) struct SmoothWeightedRoundRobin {
    weights: Vec<i64>,
    scores: Vec<i64>,
    total: i64,
}

impl SmoothWeightedRoundRobin {
    pub(super) fn new(weights: &[u32]) -> SmoothWeightedRoundRobin {
        let weights: Vec<i64> = weights.iter().map(|&w| i64::from(w)).collect();
        SmoothWeightedRoundRobin {
            total: weights.iter().sum(),
            scores: vec![0; weights.len()],
            weights,
        }
    }

    /// The index of the next pick; `None` when every weight is 0.
    pub(super) fn next(&mut self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, &weight) in self.weights.iter().enumerate() {
            if weight == 0 {
                continue;
            }
            self.scores[i] += weight;
            if best.is_none_or(|b| self.scores[i] > self.scores[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        self.scores[best] -= self.total;
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(weights: &[u32], n: usize) -> Vec<usize> {
        let mut rotation = SmoothWeightedRoundRobin::new(weights);
        (0..n).map(|_| rotation.next().expect("a pick")).collect()
    }

    #[test]
    fn every_window_of_ten_has_exactly_one_pick_at_ninety_ten() {
        let sequence = picks(&[90, 10], 10_000);
        for window in sequence.chunks(10) {
            assert_eq!(window.iter().filter(|&&i| i == 1).count(), 1, "{window:?}");
        }
    }

    #[test]
    fn picks_are_spread_not_bunched() {
        // nginx's own example: weights 5, 1, 1 give a a b a c a a.
        assert_eq!(picks(&[5, 1, 1], 7), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn zero_weights_are_never_picked() {
        assert!(picks(&[0, 100], 1_000).iter().all(|&i| i == 1));
        assert!(picks(&[100, 0], 1_000).iter().all(|&i| i == 0));
        assert!(
            picks(&[0, 3, 0, 1], 1_000)
                .iter()
                .all(|&i| i == 1 || i == 3)
        );
    }

    #[test]
    fn nothing_is_picked_when_every_weight_is_zero() {
        assert_eq!(SmoothWeightedRoundRobin::new(&[0, 0]).next(), None);
        assert_eq!(SmoothWeightedRoundRobin::new(&[]).next(), None);
    }
}
