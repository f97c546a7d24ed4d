//! The relying party for one configured provider: discovered at its issuer, or built from the
//! endpoints the operator configured for a provider that publishes no discovery document.

use std::sync::Arc;

use super::config::{Provider, ProviderConfig};
use crate::clock::{Clock, Random};
use crate::oidc::{ClientConfig, DiscoveryError, HttpClient, RelyingParty};

impl ProviderConfig {
    /// Builds the relying party for this provider at `issuer` with `client`: from the
    /// configured endpoints when the provider has them
    /// ([`ExternalProvider::endpoints`](super::config::ExternalProvider::endpoints), through
    /// [`RelyingParty::from_endpoints`], which never asks for a discovery document), else by
    /// [`RelyingParty::discover`].
    ///
    /// `issuer` is the external provider's
    /// [`issuer`](super::config::ExternalProvider::issuer), or a started simulator's. `http`
    /// carries every provider call; wrap it in a
    /// [`CircuitBreaker`](crate::oidc::CircuitBreaker) to fail fast while the provider is down.
    ///
    /// # Errors
    ///
    /// Those of [`RelyingParty::from_endpoints`] or [`RelyingParty::discover`].
    pub async fn relying_party(
        &self,
        issuer: &str,
        client: ClientConfig,
        http: impl HttpClient + 'static,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Result<RelyingParty, DiscoveryError> {
        if let Provider::External(external) = self.provider()
            && let Some(endpoints) = external.endpoints()
        {
            let endpoints = endpoints.clone();
            return RelyingParty::from_endpoints(issuer, endpoints, client, http, clock, random)
                .await;
        }
        RelyingParty::discover(issuer, client, http, clock, random).await
    }
}
