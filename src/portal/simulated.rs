//! A built-in provider simulator standing in for a configured provider that has no issuer.

use super::config::{Provider, ProviderConfig};
use crate::assurance::{AcrTable, LevelSource};
use crate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle, Persona, PersonaOutcome};
use crate::oidc::{ClientConfig, ProviderProfile, is_loopback};

impl ProviderConfig {
    /// Starts the built-in provider simulator in this provider's profile, with the gateway's
    /// client registered for this provider's redirect URI, and returns it with the relying
    /// party's configuration for it; `None` when the provider has an issuer.
    ///
    /// The configuration applies the profile's defaults, the simulator's `acr` values for a
    /// `standard` provider (unless a level source is configured), and the simulator's
    /// [test decryptor](DevIdpHandle::test_decryptor), which opens the encrypted responses of a
    /// `vneid-direct` simulator. `staff_userinfo` fetches userinfo even when the profile would
    /// not.
    ///
    /// # Errors
    ///
    /// Those of [`DevIdp::start`].
    ///
    /// # Security
    ///
    /// The simulator signs in anyone who clicks: for development and tests on loopback. The
    /// configuration refuses it off loopback unless `WARDGATE_SIMULATOR=1`, and off loopback
    /// its personas carry no role, so none of them can reach the staff pages.
    pub async fn start_simulator(
        &self,
        staff_userinfo: bool,
    ) -> std::io::Result<Option<(DevIdpHandle, ClientConfig)>> {
        let Provider::Simulator { level_source } = self.provider() else {
            return Ok(None);
        };
        let profile = self.profile();
        let mut simulator = DevIdpConfig::new().profile(profile).client(
            devidp::DEFAULT_CLIENT_ID,
            Some(devidp::DEFAULT_CLIENT_SECRET),
            [self.redirect_uri().as_str()],
        );
        if !is_loopback(self.redirect_uri()) {
            // Off loopback (`WARDGATE_SIMULATOR=1`), nobody becomes staff by clicking a button.
            simulator = simulator.personas(personas_without_roles());
        }
        let idp = DevIdp::start(simulator).await?;
        let source = match level_source {
            Some(source) => source.clone(),
            None if profile == ProviderProfile::Standard => {
                AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2])
                    .map(LevelSource::acr)
                    .map_err(std::io::Error::other)?
            }
            None => profile.default_level_source(),
        };
        let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, self.redirect_uri().clone())
            .profile(profile)
            .client_secret(devidp::DEFAULT_CLIENT_SECRET)
            .level_source(source)
            .fetch_userinfo(profile.fetches_userinfo() || staff_userinfo)
            .envelope_decryptor(idp.test_decryptor());
        Ok(Some((idp, client)))
    }
}

/// The simulator's default personas, less those whose identity carries a role.
fn personas_without_roles() -> Vec<Persona> {
    Persona::defaults()
        .into_iter()
        .filter(|persona| match &persona.outcome {
            PersonaOutcome::Authenticates { identity, .. } => identity.roles().is_empty(),
            _ => true,
        })
        .collect()
}
