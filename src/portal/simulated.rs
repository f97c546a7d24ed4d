//! A built-in provider simulator standing in for a configured provider that has no issuer.

use super::config::{Provider, ProviderConfig};
use crate::assurance::{AcrTable, LevelSource};
use crate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use crate::oidc::{ClientConfig, ProviderProfile};

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
    /// The simulator signs in anyone who clicks: for development and tests on loopback only.
    pub async fn start_simulator(
        &self,
        staff_userinfo: bool,
    ) -> std::io::Result<Option<(DevIdpHandle, ClientConfig)>> {
        let Provider::Simulator { level_source } = self.provider() else {
            return Ok(None);
        };
        let profile = self.profile();
        let idp = DevIdp::start(DevIdpConfig::new().profile(profile).client(
            devidp::DEFAULT_CLIENT_ID,
            Some(devidp::DEFAULT_CLIENT_SECRET),
            [self.redirect_uri().as_str()],
        ))
        .await?;
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
