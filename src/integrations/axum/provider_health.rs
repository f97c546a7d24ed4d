//! Whether an identity provider can take a sign-in now, from its circuit breaker.

use chrono::Duration;

use super::provider::LoginProvider;
use crate::oidc::CircuitState;

/// How long a successful provider call vouches for the provider: within it, a sign-in is sent
/// to the provider without asking it first.
const VOUCHED_FOR: Duration = Duration::seconds(10);

impl LoginProvider {
    /// Whether to send a resident to this provider.
    ///
    /// Without a circuit breaker this is always `true`. With one: `false` while the circuit is
    /// open; `true` when the last call, within [`VOUCHED_FOR`], succeeded; otherwise the
    /// provider's discovery document is fetched (through the breaker, so the wait is bounded
    /// and a failure counts towards opening the circuit). A resident sent to a provider that
    /// does not answer would be stuck on a browser error page; a resident told now gets the
    /// in-person referral.
    pub(crate) async fn available(&self) -> bool {
        let Some(circuit) = self.circuit_monitor() else {
            return true;
        };
        match circuit.state() {
            CircuitState::Open => false,
            _ if circuit.answered_within(VOUCHED_FOR) => true,
            _ => self.relying_party().is_reachable().await,
        }
    }

    /// The breaker's state, when the provider's client has one.
    pub(crate) fn circuit_state(&self) -> Option<CircuitState> {
        self.circuit_monitor().map(|c| c.state())
    }
}
