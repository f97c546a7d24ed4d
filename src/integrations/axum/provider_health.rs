//! Whether an identity provider can take a sign-in now, from its circuit breaker and a
//! rate-limited probe.
//!
//! Sign-in starts and `/readyz` are open to anyone: if each asked the provider, a flood of
//! them would become a flood at the provider, and its refusals would open the circuit for
//! every resident. So the provider is probed at most once every [`PROBE_INTERVAL`], one probe
//! at a time, and every caller in between reads the last result.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};

use super::provider::LoginProvider;
use crate::oidc::CircuitState;

/// How long a successful provider call vouches for the provider: within it, a sign-in is sent
/// to the provider without asking it first.
const VOUCHED_FOR: Duration = Duration::seconds(10);

/// The shortest time between two probes of one provider.
pub(crate) const PROBE_INTERVAL: Duration = Duration::seconds(5);

/// The last probe of one provider, shared by every request.
#[derive(Debug, Default)]
pub(crate) struct ProviderHealth {
    state: Mutex<ProbeState>,
}

#[derive(Debug, Default)]
struct ProbeState {
    /// When the last probe finished, and whether the provider answered.
    last: Option<(DateTime<Utc>, bool)>,
    /// A probe is on its way: others read `last` instead of starting another.
    probing: bool,
}

/// What a caller does after looking at the probe state.
enum Next {
    Answer(bool),
    Probe,
}

impl ProviderHealth {
    fn lock(&self) -> MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next(&self, now: DateTime<Utc>) -> Next {
        let mut state = self.lock();
        match state.last {
            Some((at, up)) if now - at < PROBE_INTERVAL => Next::Answer(up),
            // Someone is asking already; until the first probe ends, assume the provider is up
            // (it answered at start-up, or the gateway would not have started).
            _ if state.probing => Next::Answer(state.last.is_none_or(|(_, up)| up)),
            _ => {
                state.probing = true;
                Next::Probe
            }
        }
    }

    fn finish(&self, now: DateTime<Utc>, up: bool) {
        let mut state = self.lock();
        state.last = Some((now, up));
        state.probing = false;
    }
}

/// Clears the probing flag if the probing request is dropped before the probe ends.
struct ProbeGuard<'a> {
    health: &'a ProviderHealth,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.health.lock().probing = false;
        }
    }
}

impl LoginProvider {
    /// Whether to send a resident to this provider, and what `/readyz` reports for it.
    ///
    /// With a circuit breaker: `false` while the circuit is open; `true` when the last call,
    /// within [`VOUCHED_FOR`], succeeded, or when the provider answered `429` and asked for
    /// less traffic (it is up; residents still go, only probes wait). Otherwise, and without
    /// a breaker, the last probe's answer while it is younger than [`PROBE_INTERVAL`], else a
    /// new probe (the discovery document, through the breaker so the wait is bounded). A
    /// resident sent to a provider that does not answer would be stuck on a browser error
    /// page; a resident told now gets the in-person referral.
    pub(crate) async fn available(&self) -> bool {
        if let Some(circuit) = self.circuit_monitor() {
            match circuit.state() {
                CircuitState::Open => return false,
                _ if circuit.answered_within(VOUCHED_FOR) || circuit.backing_off() => {
                    return true;
                }
                _ => {}
            }
        }
        let health = self.health();
        // Probes are spaced on the clock that times the breaker, when there is one.
        let now = || match self.circuit_monitor() {
            Some(circuit) => circuit.now(),
            None => self.relying_party().clock().now(),
        };
        match health.next(now()) {
            Next::Answer(up) => up,
            Next::Probe => {
                let mut guard = ProbeGuard {
                    health,
                    armed: true,
                };
                let up = self.relying_party().is_reachable().await;
                guard.armed = false;
                health.finish(now(), up);
                up
            }
        }
    }

    /// The breaker's state, when the provider's client has one (the portal's `/readyz`).
    #[cfg(feature = "portal")]
    pub(crate) fn circuit_state(&self) -> Option<CircuitState> {
        self.circuit_monitor().map(|c| c.state())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::seconds(seconds)
    }

    #[test]
    fn one_probe_per_interval_and_one_at_a_time() {
        let health = ProviderHealth::default();
        assert!(matches!(health.next(at(0)), Next::Probe));
        // While it runs, others read the optimistic default instead of probing too.
        for _ in 0..100 {
            assert!(matches!(health.next(at(1)), Next::Answer(true)));
        }
        health.finish(at(1), false);
        assert!(matches!(health.next(at(5)), Next::Answer(false)));
        assert!(matches!(health.next(at(6)), Next::Probe));
        assert!(matches!(health.next(at(6)), Next::Answer(false)));
        health.finish(at(7), true);
        assert!(matches!(health.next(at(8)), Next::Answer(true)));
    }

    #[test]
    fn a_dropped_probe_frees_the_next() {
        let health = ProviderHealth::default();
        assert!(matches!(health.next(at(0)), Next::Probe));
        drop(ProbeGuard {
            health: &health,
            armed: true,
        });
        assert!(matches!(health.next(at(0)), Next::Probe));
    }
}
