//! What a load balancer's traffic looked like, per target group and per
//! period of one cloud minute, in the figures of CloudWatch's
//! AWS/ApplicationELB namespace: RequestCount, HTTPCode_Target_2XX..5XX,
//! HTTPCode_ELB_4XX/5XX, TargetResponseTime, Healthy/UnHealthyHostCount.
//!
//! The listener records every request, so recording must cost next to
//! nothing (the listener is benchmarked against nginx): the live periods
//! are a small ring of slots of atomic counters, each striped over a few
//! cache-line-aligned shards that client connections pick by turn, so that
//! neither a lock nor one contended cache line sits on the request path.
//! The first writer of a new period archives the slot it reuses into a
//! bounded history under a mutex, once per slot and period. A request is
//! counted in the period its answer started in.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Live periods. A slot is reused four periods later, so only a writer
/// held up for three whole periods between reading a slot's period and
/// counting can land in the wrong period.
const SLOTS: usize = 4;
/// Stripes per slot: connections take them by turn, so concurrent requests
/// rarely share a cache line.
pub(crate) const SHARDS: usize = 8;
/// How many periods are kept: a day of minutes, the longest range an AWS
/// alarm evaluates.
pub const WINDOW_PERIODS: i64 = 1440;

/// A slot's period before its first request.
const NO_PERIOD: i64 = i64::MIN;

/// What one request came to, as the listener records it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// A target answered with `status`, its headers `response_time` after
    /// the request went to it.
    Target {
        status: u16,
        response_time: Duration,
    },
    /// The listener answered itself: 5xx (no healthy target, unreachable,
    /// timed out) counts as a request and an ELB 5XX; 4xx (a request it
    /// cannot route at all) only as an ELB 4XX, as AWS leaves requests
    /// rejected before a target is chosen out of RequestCount.
    Listener { status: u16 },
}

/// One period's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodFigures {
    /// Epoch millis, a multiple of the period.
    pub start_ms: i64,
    /// Every request routed to the group, the listener's own answers
    /// included (RequestCount).
    pub requests: u64,
    pub target_2xx: u64,
    pub target_3xx: u64,
    pub target_4xx: u64,
    pub target_5xx: u64,
    /// The listener's own 4xx answers (HTTPCode_ELB_4XX_Count), not
    /// counted in `requests`.
    pub elb_4xx: u64,
    /// The listener's own 502, 503 and 504 answers (HTTPCode_ELB_5XX_Count).
    pub elb_5xx: u64,
    /// Seconds from sending a request to a target to its response headers
    /// (TargetResponseTime), for answers that came from a target.
    pub response_time: Distribution,
    pub healthy_hosts: Gauge,
    pub unhealthy_hosts: Gauge,
}

impl PeriodFigures {
    fn starting(start_ms: i64) -> PeriodFigures {
        PeriodFigures {
            start_ms,
            ..PeriodFigures::default()
        }
    }

    /// Adds `other`'s figures (for longer periods, or for the load balancer
    /// as a whole); `start_ms` stays this one's.
    pub fn merge(&mut self, other: &PeriodFigures) {
        self.requests += other.requests;
        self.target_2xx += other.target_2xx;
        self.target_3xx += other.target_3xx;
        self.target_4xx += other.target_4xx;
        self.target_5xx += other.target_5xx;
        self.elb_4xx += other.elb_4xx;
        self.elb_5xx += other.elb_5xx;
        self.response_time.merge(&other.response_time);
        self.healthy_hosts.merge(&other.healthy_hosts);
        self.unhealthy_hosts.merge(&other.unhealthy_hosts);
    }

    fn is_empty(&self) -> bool {
        self.requests == 0
            && self.elb_4xx == 0
            && self.response_time.count == 0
            && self.healthy_hosts.samples == 0
            && self.unhealthy_hosts.samples == 0
    }

    fn add(&mut self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Target {
                status,
                response_time,
            } => {
                self.response_time.add(response_time.as_secs_f64());
                match status / 100 {
                    2 => Some(&mut self.target_2xx),
                    3 => Some(&mut self.target_3xx),
                    4 => Some(&mut self.target_4xx),
                    5 => Some(&mut self.target_5xx),
                    _ => None,
                }
            }
            Outcome::Listener { status } if status / 100 == 4 => {
                self.elb_4xx += 1;
                return;
            }
            Outcome::Listener { .. } => Some(&mut self.elb_5xx),
        };
        if let Some(counter) = counter {
            *counter += 1;
        }
        self.requests += 1;
    }
}

/// A distribution of values in seconds: exact count, sum, minimum and
/// maximum, and log-linear buckets for percentiles (16 per power of two,
/// so a percentile is off by at most about 3 %).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// (bucket, count), by bucket, only those with values: a period's
    /// response times fill few of them, and a day of periods is kept.
    buckets: Vec<(u16, u64)>,
}

impl Distribution {
    /// Adds one value (seconds; negative counts as 0).
    pub fn add(&mut self, seconds: f64) {
        let seconds = seconds.max(0.0);
        let bucket = bucket_of(nanos_of(seconds)) as u16;
        let single = Distribution {
            count: 1,
            sum: seconds,
            min: seconds,
            max: seconds,
            buckets: vec![(bucket, 1)],
        };
        self.merge(&single);
    }

    pub fn merge(&mut self, other: &Distribution) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            (self.min, self.max) = (other.min, other.max);
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
        self.sum += other.sum;
        self.buckets = merge_buckets(&self.buckets, &other.buckets);
    }

    /// The value below which `p` percent of the values lie (p in 0..=100);
    /// `None` when empty. Within about 3 % of the exact value.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        // The ends are known exactly.
        let p = p.clamp(0.0, 100.0);
        if p == 0.0 {
            return Some(self.min);
        }
        if p == 100.0 {
            return Some(self.max);
        }
        let rank = ((p / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        let bucket = self
            .buckets
            .iter()
            .find(|(_, count)| {
                seen += count;
                seen >= rank
            })
            .map_or(BUCKETS - 1, |(bucket, _)| usize::from(*bucket));
        // Not `clamp`: it panics on a min above the max, which the public
        // fields allow.
        Some(representative(bucket).max(self.min).min(self.max))
    }

    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

fn merge_buckets(a: &[(u16, u64)], b: &[(u16, u64)]) -> Vec<(u16, u64)> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => {
                merged.push(x);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                merged.push(y);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                merged.push((x.0, x.1 + y.1));
                i += 1;
                j += 1;
            }
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

/// Samples of a level (host counts): how many, their sum, the lowest and
/// the highest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauge {
    pub samples: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Gauge {
    pub fn add(&mut self, value: f64) {
        self.merge(&Gauge {
            samples: 1,
            sum: value,
            min: value,
            max: value,
        });
    }

    pub fn merge(&mut self, other: &Gauge) {
        if other.samples == 0 {
            return;
        }
        if self.samples == 0 {
            (self.min, self.max) = (other.min, other.max);
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.samples += other.samples;
        self.sum += other.sum;
    }

    pub fn average(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.sum / self.samples as f64)
    }
}

// Buckets. Values are counted in units of 128 ns (answers on loopback take
// tens of microseconds, so a floor of 100 µs would lump them together):
// units below 16 each have a bucket, and every power of two above is split
// in 16 equal buckets, up to 2^32 units (about 550 s; slower answers share
// the last bucket). The index comes from the value's bits, no logarithm.

const UNIT_SHIFT: u32 = 7;
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const MAX_UNITS: u64 = (1 << 32) - 1;
const BUCKETS: usize = ((32 - SUB_BITS + 1) as u64 * SUB) as usize;

fn nanos_of(seconds: f64) -> u64 {
    // `as` saturates (and takes NaN to 0).
    (seconds * 1e9) as u64
}

fn bucket_of(nanos: u64) -> usize {
    let units = (nanos >> UNIT_SHIFT).min(MAX_UNITS);
    if units < SUB {
        return units as usize;
    }
    let exponent = 63 - units.leading_zeros();
    let mantissa = (units >> (exponent - SUB_BITS)) & (SUB - 1);
    ((u64::from(exponent - SUB_BITS) + 1) * SUB + mantissa) as usize
}

/// The value (seconds) a bucket stands for: the one whose relative error is
/// the same at both of its ends (2ab / (a + b)).
fn representative(bucket: usize) -> f64 {
    let bucket = bucket as u64;
    let (low, width) = if bucket < SUB {
        (bucket, 1)
    } else {
        let shift = bucket / SUB - 1;
        ((SUB + bucket % SUB) << shift, 1 << shift)
    };
    let unit_seconds = f64::from(1u32 << UNIT_SHIFT) / 1e9;
    let (a, b) = (
        low as f64 * unit_seconds,
        (low + width) as f64 * unit_seconds,
    );
    2.0 * a * b / (a + b)
}

/// One stripe of a live period's counters.
#[repr(align(128))]
struct Shard {
    requests: AtomicU64,
    /// HTTPCode_Target_2XX..5XX, then ELB 4XX and 5XX.
    codes: [AtomicU64; 6],
    time_sum_ns: AtomicU64,
    time_min_ns: AtomicU64,
    time_max_ns: AtomicU64,
    /// The response count is their sum.
    buckets: [AtomicU32; BUCKETS],
}

const ELB_4XX: usize = 4;
const ELB_5XX: usize = 5;

impl Shard {
    fn new() -> Shard {
        Shard {
            requests: AtomicU64::new(0),
            codes: Default::default(),
            time_sum_ns: AtomicU64::new(0),
            time_min_ns: AtomicU64::new(u64::MAX),
            time_max_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    #[inline]
    fn add(&self, outcome: Outcome) {
        let code = match outcome {
            Outcome::Target {
                status,
                response_time,
            } => {
                self.add_time(response_time);
                (200..600)
                    .contains(&status)
                    .then(|| usize::from(status / 100 - 2))
            }
            Outcome::Listener { status } if status / 100 == 4 => {
                self.codes[ELB_4XX].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Listener { .. } => Some(ELB_5XX),
        };
        if let Some(code) = code {
            self.codes[code].fetch_add(1, Ordering::Relaxed);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    fn add_time(&self, time: Duration) {
        let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.time_sum_ns.fetch_add(nanos, Ordering::Relaxed);
        // A read first: the extremes rarely move, and a read leaves the
        // cache line shared.
        if nanos < self.time_min_ns.load(Ordering::Relaxed) {
            self.time_min_ns.fetch_min(nanos, Ordering::Relaxed);
        }
        if nanos > self.time_max_ns.load(Ordering::Relaxed) {
            self.time_max_ns.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Adds this shard's counts to `figures`; `take` also resets them, one
    /// counter at a time, so that a count racing the reset lands in one
    /// period or the other, never in both.
    fn add_to(&self, figures: &mut PeriodFigures, take: bool) {
        let read = |counter: &AtomicU64, reset: u64| {
            if take {
                counter.swap(reset, Ordering::Relaxed)
            } else {
                counter.load(Ordering::Relaxed)
            }
        };
        figures.requests += read(&self.requests, 0);
        let codes: [u64; 6] = std::array::from_fn(|i| read(&self.codes[i], 0));
        figures.target_2xx += codes[0];
        figures.target_3xx += codes[1];
        figures.target_4xx += codes[2];
        figures.target_5xx += codes[3];
        figures.elb_4xx += codes[ELB_4XX];
        figures.elb_5xx += codes[ELB_5XX];
        let mut times = Distribution::default();
        for (bucket, counter) in self.buckets.iter().enumerate() {
            let count = if take {
                counter.swap(0, Ordering::Relaxed)
            } else {
                counter.load(Ordering::Relaxed)
            };
            if count > 0 {
                times.buckets.push((bucket as u16, u64::from(count)));
                times.count += u64::from(count);
            }
        }
        let (sum, min, max) = (
            read(&self.time_sum_ns, 0),
            read(&self.time_min_ns, u64::MAX),
            read(&self.time_max_ns, 0),
        );
        if times.count > 0 {
            let seconds = |nanos: u64| nanos as f64 / 1e9;
            (times.sum, times.min, times.max) = (seconds(sum), seconds(min.min(max)), seconds(max));
            figures.response_time.merge(&times);
        }
    }
}

/// One live period: its index (epoch millis / period) and its counters.
struct Slot {
    period: AtomicI64,
    shards: [Shard; SHARDS],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            period: AtomicI64::new(NO_PERIOD),
            shards: std::array::from_fn(|_| Shard::new()),
        }
    }

    fn figures(&self, start_ms: i64, take: bool) -> PeriodFigures {
        let mut figures = PeriodFigures::starting(start_ms);
        for shard in &self.shards {
            shard.add_to(&mut figures, take);
        }
        figures
    }
}

/// The traffic figures of one target group (or of a listener's answers
/// without one), period by period, for the last [`WINDOW_PERIODS`].
pub struct TrafficMetrics {
    period_ms: i64,
    /// An instant and the epoch millis it was, to place instants in periods
    /// without asking the system clock on every request.
    base: Instant,
    base_ms: i64,
    slots: Box<[Slot]>,
    /// Finished periods, host samples, and the rare request counted after
    /// its slot moved on; by period index.
    history: Mutex<BTreeMap<i64, PeriodFigures>>,
}

impl std::fmt::Debug for TrafficMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficMetrics")
            .field("period_ms", &self.period_ms)
            .finish_non_exhaustive()
    }
}

impl TrafficMetrics {
    /// `period` is the real length of one cloud minute (whole millis, at
    /// least one).
    pub fn new(period: Duration) -> TrafficMetrics {
        TrafficMetrics {
            period_ms: i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1),
            base: Instant::now(),
            base_ms: crate::now_millis(),
            // Built one by one on the heap: together they are 64 KiB.
            slots: (0..SLOTS).map(|_| Slot::new()).collect(),
            history: Mutex::default(),
        }
    }

    pub fn period_ms(&self) -> i64 {
        self.period_ms
    }

    /// A sample of the group's host counts, now.
    pub fn record_hosts(&self, healthy: u32, unhealthy: u32) {
        let period = self.period_at(Instant::now());
        let mut history = self.history();
        let figures = history
            .entry(period)
            .or_insert_with(|| PeriodFigures::starting(period * self.period_ms));
        figures.healthy_hosts.add(f64::from(healthy));
        figures.unhealthy_hosts.add(f64::from(unhealthy));
        forget_before(&mut history, period);
    }

    /// The periods whose start lies in [from_ms, to_ms) (epoch millis),
    /// oldest first, including the current unfinished one; periods with
    /// neither requests nor host samples are absent.
    pub fn periods(&self, from_ms: i64, to_ms: i64) -> Vec<PeriodFigures> {
        let now = self.period_at(Instant::now());
        let first = ceil_div(from_ms, self.period_ms).max(now - WINDOW_PERIODS + 1);
        let end = ceil_div(to_ms, self.period_ms);
        if first >= end {
            return Vec::new();
        }
        // Held while the slots are read too: no slot is archived meanwhile.
        let mut history = self.history();
        forget_before(&mut history, now);
        let mut periods: BTreeMap<i64, PeriodFigures> = history
            .range(first..end)
            .map(|(period, figures)| (*period, figures.clone()))
            .collect();
        for slot in self.slots.iter() {
            let period = slot.period.load(Ordering::Acquire);
            if (first..end).contains(&period) {
                let live = slot.figures(period * self.period_ms, false);
                periods
                    .entry(period)
                    .or_insert_with(|| PeriodFigures::starting(period * self.period_ms))
                    .merge(&live);
            }
        }
        periods.into_values().filter(|f| !f.is_empty()).collect()
    }

    /// Counts one request that ended (answered or gave up) at `at`.
    /// `shard` is the client connection's stripe.
    #[inline]
    pub(crate) fn record(&self, shard: usize, at: Instant, outcome: Outcome) {
        self.record_in(shard, self.period_at(at), outcome);
    }

    #[inline]
    fn record_in(&self, shard: usize, period: i64, outcome: Outcome) {
        let slot = self.slot(period);
        if slot.period.load(Ordering::Acquire) == period {
            slot.shards[shard % SHARDS].add(outcome);
        } else {
            self.record_in_new_period(shard, period, outcome);
        }
    }

    /// The first request of a period in its slot: archives what the slot
    /// held, then takes it over. A request so late that its slot has moved
    /// on goes straight to the history.
    #[cold]
    #[inline(never)]
    fn record_in_new_period(&self, shard: usize, period: i64, outcome: Outcome) {
        let mut history = self.history();
        let slot = self.slot(period);
        let held = slot.period.load(Ordering::Acquire);
        if held < period {
            if held != NO_PERIOD {
                let finished = slot.figures(held * self.period_ms, true);
                if !finished.is_empty() {
                    history
                        .entry(held)
                        .or_insert_with(|| PeriodFigures::starting(held * self.period_ms))
                        .merge(&finished);
                }
            }
            // The reset counters are published with the period: a writer
            // that sees the new period counts on zeroed counters.
            slot.period.store(period, Ordering::Release);
            forget_before(&mut history, period);
        }
        if held <= period {
            slot.shards[shard % SHARDS].add(outcome);
        } else if period > held - WINDOW_PERIODS {
            history
                .entry(period)
                .or_insert_with(|| PeriodFigures::starting(period * self.period_ms))
                .add(outcome);
        }
    }

    fn period_at(&self, at: Instant) -> i64 {
        let since_base = at.saturating_duration_since(self.base).as_millis();
        let ms = self
            .base_ms
            .saturating_add(i64::try_from(since_base).unwrap_or(i64::MAX));
        ms.div_euclid(self.period_ms)
    }

    fn slot(&self, period: i64) -> &Slot {
        &self.slots[period.rem_euclid(SLOTS as i64) as usize]
    }

    fn history(&self) -> MutexGuard<'_, BTreeMap<i64, PeriodFigures>> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops the periods that have left the window ending with `current`.
fn forget_before(history: &mut BTreeMap<i64, PeriodFigures>, current: i64) {
    let oldest = current - WINDOW_PERIODS + 1;
    while history
        .first_key_value()
        .is_some_and(|(period, _)| *period < oldest)
    {
        history.pop_first();
    }
}

/// The first period index whose start is at or after `ms`.
fn ceil_div(ms: i64, period_ms: i64) -> i64 {
    let floor = ms.div_euclid(period_ms);
    if ms.rem_euclid(period_ms) == 0 {
        floor
    } else {
        floor.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(status: u16, ms: u64) -> Outcome {
        Outcome::Target {
            status,
            response_time: Duration::from_millis(ms),
        }
    }

    /// Metrics with one-second periods, and the index of the current one.
    fn per_second() -> (TrafficMetrics, i64) {
        let metrics = TrafficMetrics::new(Duration::from_secs(1));
        let now = metrics.period_at(Instant::now());
        (metrics, now)
    }

    fn all(metrics: &TrafficMetrics) -> Vec<PeriodFigures> {
        metrics.periods(i64::MIN, i64::MAX)
    }

    #[test]
    fn percentiles_of_a_known_distribution_are_within_three_percent() {
        let mut times = Distribution::default();
        for ms in 1..=1000 {
            times.add(f64::from(ms) / 1000.0);
        }
        assert_eq!(times.count, 1000);
        assert_eq!((times.min, times.max), (0.001, 1.0));
        let average = times.average().unwrap();
        assert!((average - 0.5005).abs() < 1e-9, "{average}");
        for (p, exact) in [
            (50.0, 0.5),
            (90.0, 0.9),
            (99.0, 0.99),
            (10.0, 0.1),
            (1.0, 0.01),
        ] {
            let estimate = times.percentile(p).unwrap();
            assert!(
                (estimate - exact).abs() / exact <= 0.031,
                "p{p}: {estimate} for {exact}"
            );
        }
        assert_eq!(times.percentile(0.0), Some(0.001));
        assert_eq!(times.percentile(100.0), Some(1.0));
        assert_eq!(Distribution::default().percentile(50.0), None);
        assert_eq!(Distribution::default().average(), None);
    }

    #[test]
    fn every_bucket_stands_for_its_values_within_about_three_percent() {
        // From 2 µs (below, the 128 ns units are coarse) to 500 s.
        let mut nanos = 2_000u64;
        while nanos < 500_000_000_000 {
            let estimate = representative(bucket_of(nanos));
            let exact = nanos as f64 / 1e9;
            assert!(
                (estimate - exact).abs() / exact <= 0.031,
                "{nanos} ns: {estimate}"
            );
            nanos += nanos / 7 + 1;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn merged_distributions_and_gauges_are_those_of_all_their_values() {
        let (mut fast, mut slow, mut both) = Default::default();
        for ms in [1.0, 2.0, 3.0] {
            Distribution::add(&mut fast, ms / 1000.0);
            Distribution::add(&mut both, ms / 1000.0);
        }
        for s in [1.0, 2.0] {
            Distribution::add(&mut slow, s);
            Distribution::add(&mut both, s);
        }
        let mut merged = fast.clone();
        merged.merge(&slow);
        merged.merge(&Distribution::default());
        assert_eq!(merged.count, both.count);
        assert_eq!((merged.min, merged.max), (0.001, 2.0));
        assert_eq!(merged.percentile(50.0), both.percentile(50.0));
        assert!((merged.sum - both.sum).abs() < 1e-12);

        let mut hosts = Gauge::default();
        hosts.add(2.0);
        let mut other = Gauge::default();
        other.add(4.0);
        other.add(0.0);
        hosts.merge(&other);
        assert_eq!(
            hosts,
            Gauge {
                samples: 3,
                sum: 6.0,
                min: 0.0,
                max: 4.0
            }
        );
        assert_eq!(hosts.average(), Some(2.0));
        assert_eq!(Gauge::default().average(), None);
    }

    #[test]
    fn merged_periods_add_up() {
        let mut a = PeriodFigures::starting(60_000);
        a.add(target(200, 5));
        a.add(Outcome::Listener { status: 503 });
        let mut b = PeriodFigures::starting(120_000);
        b.add(target(500, 10));
        b.add(Outcome::Listener { status: 400 });
        a.merge(&b);
        assert_eq!(a.start_ms, 60_000);
        assert_eq!(
            (a.requests, a.target_2xx, a.target_5xx, a.elb_5xx, a.elb_4xx),
            (3, 1, 1, 1, 1)
        );
        assert_eq!(a.response_time.count, 2);
    }

    #[test]
    fn requests_are_counted_by_shard_and_class_in_their_period() {
        let (metrics, now) = per_second();
        for shard in 0..20 {
            metrics.record_in(shard, now, target(200, 1));
        }
        metrics.record_in(3, now, target(302, 1));
        metrics.record_in(3, now, target(404, 1));
        metrics.record_in(3, now, target(503, 40));
        metrics.record_in(5, now, Outcome::Listener { status: 502 });
        let periods = all(&metrics);
        assert_eq!(periods.len(), 1);
        let p = &periods[0];
        assert_eq!(p.start_ms, now * 1000);
        assert_eq!(
            (
                p.requests,
                p.target_2xx,
                p.target_3xx,
                p.target_4xx,
                p.target_5xx,
                p.elb_5xx
            ),
            (24, 20, 1, 1, 1, 1)
        );
        assert_eq!(p.response_time.count, 23);
        assert_eq!((p.response_time.min, p.response_time.max), (0.001, 0.04));
    }

    #[test]
    fn a_new_period_in_a_reused_slot_archives_the_old_one_once() {
        let (metrics, now) = per_second();
        let start = now - 10;
        // Ten periods: each slot is reused twice or more.
        for period in start..now {
            for _ in 0..(period - start + 1) {
                metrics.record_in(0, period, target(200, 1));
            }
        }
        let periods = all(&metrics);
        let counts: Vec<(i64, u64)> = periods
            .iter()
            .map(|p| (p.start_ms / 1000 - start, p.requests))
            .collect();
        let expected: Vec<(i64, u64)> = (0..10).map(|i| (i, i as u64 + 1)).collect();
        assert_eq!(counts, expected);
        let total: u64 = periods.iter().map(|p| p.response_time.count).sum();
        assert_eq!(total, 55);
    }

    #[test]
    fn a_request_later_than_its_slot_goes_to_the_history() {
        let (metrics, now) = per_second();
        metrics.record_in(0, now - 1, target(200, 1));
        // The slot of now - 5 now holds now - 1.
        metrics.record_in(0, now - 5, target(500, 1));
        let periods = all(&metrics);
        let summary: Vec<(i64, u64, u64)> = periods
            .iter()
            .map(|p| (p.start_ms / 1000 - now, p.target_2xx, p.target_5xx))
            .collect();
        assert_eq!(summary, [(-5, 0, 1), (-1, 1, 0)]);
    }

    #[test]
    fn only_the_window_is_kept() {
        let (metrics, now) = per_second();
        for period in [now - WINDOW_PERIODS - 3, now - WINDOW_PERIODS, now - 2] {
            metrics.record_in(0, period, target(200, 1));
        }
        // Takes over the slot of now - 2, archiving it and dropping what
        // is older than the window; the slots left behind are filtered out.
        metrics.record_in(0, now + 2, target(200, 1));
        let starts: Vec<i64> = all(&metrics)
            .iter()
            .map(|p| p.start_ms / 1000 - now)
            .collect();
        assert_eq!(starts, [-2, 2]);
        assert!(metrics.history().keys().all(|p| *p > now - WINDOW_PERIODS));
    }

    #[test]
    fn periods_are_filtered_by_their_start_and_hosts_alone_make_one() {
        // Hour-long periods: the host samples go to the real current one,
        // which must not move while the test runs.
        const HOUR: i64 = 3_600_000;
        let metrics = TrafficMetrics::new(Duration::from_secs(3600));
        let now = metrics.period_at(Instant::now());
        for period in now - 3..=now {
            metrics.record_in(1, period, target(200, 1));
        }
        metrics.record_hosts(2, 1);
        metrics.record_hosts(4, 0);
        let starts = |from: i64, to: i64| -> Vec<i64> {
            metrics
                .periods(from, to)
                .iter()
                .map(|p| p.start_ms / HOUR - now)
                .collect()
        };
        let ms = |period: i64| period * HOUR;
        assert_eq!(starts(ms(now - 2), ms(now)), [-2, -1]);
        // A start in the middle of a period leaves that period out.
        assert_eq!(starts(ms(now - 2) + 1, ms(now) + 1), [-1, 0]);
        assert!(starts(ms(now), ms(now)).is_empty());
        let current = metrics.periods(ms(now), ms(now + 1));
        assert_eq!(current[0].requests, 1);
        assert_eq!(current[0].healthy_hosts.average(), Some(3.0));
        assert_eq!(current[0].unhealthy_hosts.max, 1.0);

        let quiet = TrafficMetrics::new(Duration::from_secs(60));
        quiet.record_hosts(1, 0);
        let periods = all(&quiet);
        assert_eq!(periods.len(), 1);
        assert_eq!(periods[0].requests, 0);
        assert_eq!(periods[0].start_ms % 60_000, 0);
    }

    #[test]
    fn concurrent_first_writers_of_periods_lose_nothing() {
        let (metrics, now) = per_second();
        let metrics = std::sync::Arc::new(metrics);
        let writers: Vec<_> = (0..4)
            .map(|shard| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let period = now + i / 5_000;
                        metrics.record_in(shard, period, target(200, 1));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let periods = all(&metrics);
        let counts: Vec<u64> = periods.iter().map(|p| p.requests).collect();
        assert_eq!(counts, [20_000; 4]);
    }
}
