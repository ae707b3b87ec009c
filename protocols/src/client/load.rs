//! How hard simulated clients push, and how patiently they wait: the part of
//! a `[workload]` every client-driving protocol shares (closed or open loop,
//! per-attempt timeout, retries). What an operation *is* — a key-value get,
//! a proposal, a cache lookup — is the protocol's own workload type.

use faultline_scenario::{Number, Scenario, ScenarioError, Spanned};
use faultline_sim::Duration;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// Each client keeps `concurrency` operations outstanding.
    Closed { concurrency: u32 },
    /// Each client starts operations at `rate_per_sec` (Poisson arrivals).
    Open { rate_per_sec: f64 },
}

/// Load and retry settings of one client.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClientLoad {
    pub mode: LoadMode,
    /// How long one attempt waits for an answer.
    pub timeout: Duration,
    /// Attempts after the first, under the same operation id.
    pub retries: u32,
    /// Operations each client issues at most (`None`: until the run ends).
    pub max_ops_per_client: Option<u64>,
}

impl Default for ClientLoad {
    fn default() -> Self {
        ClientLoad {
            mode: LoadMode::Closed { concurrency: 1 },
            timeout: Duration::from_millis(500),
            retries: 3,
            max_ops_per_client: None,
        }
    }
}

impl ClientLoad {
    /// How soon after a heal a client's first operation of the liveness
    /// phase can succeed once the service is back `service_back` after the
    /// heal: the client may still be waiting out its last operation from
    /// before the heal (every attempt timing out, a back-off between), and
    /// the next one may need a redirect or a timed-out attempt of its own.
    /// Saturating: a timeout of centuries is valid input, and the bound is
    /// then simply never reached.
    pub fn recovery_within(&self, service_back: u64) -> Duration {
        let timeout = self.timeout.as_nanos();
        let attempt = timeout.saturating_add((timeout / 10).max(1_000_000));
        let waiting = attempt.saturating_mul(u64::from(self.retries) + 1);
        Duration::from_nanos(service_back.saturating_add(waiting).saturating_add(attempt.saturating_mul(2)))
    }
}

/// The `[workload]` keys [`ClientLoad`] reads, as a protocol's raw workload
/// table holds them (flattening would lose the spans, so each protocol's raw
/// table repeats these fields and hands them over).
pub struct RawLoad<'a> {
    pub concurrency: &'a Option<Spanned<i64>>,
    pub rate: &'a Option<Spanned<Number>>,
    pub timeout: &'a Option<Spanned<Duration>>,
    pub retries: &'a Option<Spanned<i64>>,
}

impl ClientLoad {
    pub fn parse(scenario: &Scenario, raw: RawLoad<'_>) -> Result<ClientLoad, ScenarioError> {
        let mode = match (raw.concurrency, raw.rate) {
            (Some(c), None) => LoadMode::Closed { concurrency: scenario.int_in(c, "concurrency", 1, 1_000)? as u32 },
            (None, Some(r)) => {
                let v = r.get_ref().0;
                if !(v.is_finite() && v > 0.0 && v <= 1e6) {
                    return Err(scenario.error_at(
                        r.span(),
                        format!(
                            "`rate` (operations per second per client) must be above 0 and at most 1000000; got {v}"
                        ),
                    ));
                }
                LoadMode::Open { rate_per_sec: v }
            }
            (None, None) => LoadMode::Closed { concurrency: 1 },
            (Some(_), Some(r)) => {
                return Err(scenario
                    .error_at(r.span(), "give either `concurrency` (closed loop) or `rate` (open loop), not both"));
            }
        };
        if let Some(t) = raw.timeout.as_ref().filter(|t| *t.get_ref() == Duration::ZERO) {
            return Err(scenario.error_at(t.span(), "`timeout` must be above zero"));
        }
        let defaults = ClientLoad::default();
        let timeout = raw.timeout.as_ref().map_or(defaults.timeout, |t| *t.get_ref());
        let retries = match raw.retries {
            Some(r) => scenario.int_in(r, "retries", 0, 1_000)? as u32,
            None => defaults.retries,
        };
        Ok(ClientLoad { mode, timeout, retries, max_ops_per_client: scenario.clients.max_ops_per_client })
    }
}
