//! Timed trials with censoring: how long a leader crash took to be repaired
//! (`failover_us`, `elected_us`) or the first leader to be elected. A trial
//! that had not finished when its run ended was censored: its value is only
//! known to exceed the time it was watched. Censored trials are counted,
//! never dropped, and every figure derived from them says what is known: a
//! quantile that falls among censored trials is shown as "> T", a mean with
//! any censored trial as a lower bound.

use faultline_sim::metrics::{Censored, CENSORED};

use crate::error::ReportError;
use crate::figures::ScenarioRuns;
use crate::histograms;
use crate::plot::cdf::format_ms;

/// The share of trials above this is given beside the quantiles: the
/// threshold the Raft paper reports its slowest line against.
pub const SLOW_MS: f64 = 10_000.0;

pub const HEADERS: [&str; 10] =
    ["scenario", "trial", "trials", "censored", "p50", "mean", "p99", "max", "> 10 s", "runs without a trial"];

pub const LEGEND: &str = "One row per scenario and timed trial (failover_us: from a leader's crash until a majority \
    of the surviving nodes know a new leader; elected_us: until a new leader is elected; first_election_us: from the \
    start until the first leader). A censored trial had not finished when its run ended, so its value is only known \
    to exceed the time it was watched: a quantile or maximum that falls among censored trials is shown as \"> T\", \
    a mean with any censored trial as \"> M\" (the mean with each censored trial at its lower bound). Runs without \
    a trial had no event to time (no leader crashed).";

/// One value: exact, or only known to be above a bound.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Estimate {
    Exact(f64),
    Above(f64),
}

impl Estimate {
    pub fn ms(self) -> f64 {
        match self {
            Estimate::Exact(v) | Estimate::Above(v) => v,
        }
    }
    pub fn show(self) -> String {
        match self {
            Estimate::Exact(v) => format_ms(v),
            Estimate::Above(v) => format!("> {}", format_ms(v)),
        }
    }
}

/// Every trial of one kind in one scenario, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Trials {
    pub kind: &'static Censored,
    /// Finished trials, ascending.
    pub done: Vec<f64>,
    /// Censored trials' lower bounds, ascending.
    pub censored: Vec<f64>,
    /// Runs that recorded neither a finished nor a censored trial.
    pub runs_without: usize,
}

fn values_ms(text: Option<&String>, metric: &str) -> Result<Vec<f64>, ReportError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let h = histograms::decode(metric, text)?;
    let mut out = Vec::new();
    for v in h.iter_recorded() {
        let ms = h.median_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        out.extend(std::iter::repeat_n(ms, v.count_at_value() as usize));
    }
    Ok(out)
}

impl Trials {
    /// The trials of `kind` in `scenario`'s runs; `None` when no run timed one.
    pub fn of(scenario: &ScenarioRuns, kind: &'static Censored) -> Result<Option<Trials>, ReportError> {
        let mut t = Trials { kind, done: Vec::new(), censored: Vec::new(), runs_without: 0 };
        let mut any = false;
        for r in &scenario.records {
            let done = values_ms(r.histograms.get(kind.histogram), kind.histogram)?;
            let censored = values_ms(r.histograms.get(kind.bounds), kind.bounds)?;
            any |= r.counters.contains_key(kind.counter);
            if done.is_empty() && censored.is_empty() {
                t.runs_without += 1;
            }
            t.done.extend(done);
            t.censored.extend(censored);
        }
        if !any || t.total() == 0 {
            return Ok(None);
        }
        t.done.sort_by(f64::total_cmp);
        t.censored.sort_by(f64::total_cmp);
        Ok(Some(t))
    }

    pub fn total(&self) -> usize {
        self.done.len() + self.censored.len()
    }

    /// Every trial at its value or lower bound, ascending, with whether it
    /// was censored.
    fn combined(&self) -> Vec<(f64, bool)> {
        let mut all: Vec<(f64, bool)> =
            self.done.iter().map(|&v| (v, false)).chain(self.censored.iter().map(|&v| (v, true))).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all
    }

    /// The `q`-quantile by nearest rank. Exact when the trial at that rank
    /// finished and no censored trial's bound lies below it (a censored
    /// trial could otherwise be the one that belongs there); else the
    /// quantile is known only to be above that rank's value.
    pub fn quantile(&self, q: f64) -> Estimate {
        let all = self.combined();
        let rank = ((q * all.len() as f64).ceil() as usize).clamp(1, all.len());
        let (v, censored) = all[rank - 1];
        let exact = !censored && self.censored.first().is_none_or(|&low| low > v);
        if exact {
            Estimate::Exact(v)
        } else {
            Estimate::Above(v)
        }
    }

    /// The mean, or a lower bound of it when any trial was censored.
    pub fn mean(&self) -> Estimate {
        let sum: f64 = self.done.iter().chain(&self.censored).sum();
        let mean = sum / self.total() as f64;
        if self.censored.is_empty() {
            Estimate::Exact(mean)
        } else {
            Estimate::Above(mean)
        }
    }

    pub fn max(&self) -> Estimate {
        self.quantile(1.0)
    }

    /// The share of trials above `ms`: exact when every censored trial was
    /// watched at least that long (or none was), else (low, high).
    pub fn share_above(&self, ms: f64) -> (f64, f64) {
        let n = self.total() as f64;
        let done = self.done.iter().filter(|&&v| v > ms).count();
        let surely = self.censored.iter().filter(|&&v| v >= ms).count();
        let maybe = self.censored.len() - surely;
        ((done + surely) as f64 / n, (done + surely + maybe) as f64 / n)
    }

    /// The empirical CDF of the finished trials over all trials, as the
    /// corners of its steps: it tops out below 1 by the censored share.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let n = self.total() as f64;
        let mut points = Vec::with_capacity(2 * self.done.len());
        for (i, &v) in self.done.iter().enumerate() {
            points.push((v, i as f64 / n));
            points.push((v, (i + 1) as f64 / n));
        }
        points
    }

    pub fn row(&self, scenario: &str) -> [String; 10] {
        let (low, high) = self.share_above(SLOW_MS);
        let share = if low == high { percent(low) } else { format!("{} to {}", percent(low), percent(high)) };
        [
            scenario.to_string(),
            self.kind.histogram.to_string(),
            self.total().to_string(),
            self.censored.len().to_string(),
            self.quantile(0.5).show(),
            self.mean().show(),
            self.quantile(0.99).show(),
            self.max().show(),
            share,
            self.runs_without.to_string(),
        ]
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Every scenario's trials of every kind, in batch then kind order.
pub fn all(scenarios: &[ScenarioRuns]) -> Result<Vec<(usize, Trials)>, ReportError> {
    let mut out = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        for kind in &CENSORED {
            if let Some(t) = Trials::of(s, kind)? {
                out.push((i, t));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trials(done: &[f64], censored: &[f64]) -> Trials {
        Trials { kind: &CENSORED[0], done: done.to_vec(), censored: censored.to_vec(), runs_without: 0 }
    }

    #[test]
    fn without_censoring_every_figure_is_exact() {
        let t = trials(&[1.0, 2.0, 3.0, 4.0], &[]);
        assert_eq!(t.quantile(0.5), Estimate::Exact(2.0));
        assert_eq!(t.mean(), Estimate::Exact(2.5));
        assert_eq!(t.max(), Estimate::Exact(4.0));
        assert_eq!(t.share_above(2.5), (0.5, 0.5));
        assert_eq!(t.cdf().last(), Some(&(4.0, 1.0)));
        assert_eq!(t.cdf()[..2], [(1.0, 0.0), (1.0, 0.25)], "a step at each trial");
    }

    #[test]
    fn censored_trials_bound_what_falls_among_them() {
        // Two finished, two censored after 15 s.
        let t = trials(&[200.0, 300.0], &[15_000.0, 15_000.0]);
        assert_eq!(t.quantile(0.5), Estimate::Exact(300.0));
        assert_eq!(t.quantile(0.99), Estimate::Above(15_000.0));
        assert_eq!(t.mean(), Estimate::Above(7_625.0));
        assert_eq!(t.share_above(10_000.0), (0.5, 0.5), "watched longer than 10 s: surely above");
        assert_eq!(t.cdf().last(), Some(&(300.0, 0.5)), "the CDF tops out at the finished share");
        // A censored bound below a finished value makes that rank uncertain.
        let early = trials(&[200.0, 300.0], &[100.0]);
        assert_eq!(early.quantile(0.5), Estimate::Above(200.0));
        assert_eq!(early.share_above(150.0), (2.0 / 3.0, 1.0));
    }
}
