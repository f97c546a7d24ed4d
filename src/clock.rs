//! Time and randomness, injected so that every check is deterministic in tests.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ring::rand::SecureRandom;

/// A source of the current time.
///
/// Every time-dependent check (token expiry, `auth_time` age, cookie expiry, receipt timestamps,
/// opening hours) reads the time through this trait, so tests can fix it.
pub trait Clock: Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that returns a fixed time until it is moved; for tests and simulations.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = now;
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut guard) = self.0.lock() {
            *guard += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// A source of cryptographically secure random bytes.
pub trait Random: Debug + Send + Sync {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    ///
    /// Returns [`RandomError`] when the operating system's generator fails.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's generator, through ring.
#[derive(Debug)]
#[non_exhaustive]
pub struct SystemRandom(ring::rand::SystemRandom);

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemRandom {
    /// The operating system's generator.
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        self.0.fill(dest).map_err(|_| RandomError(()))
    }
}

/// The random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError(());

/// `N` random bytes, base64url-encoded without padding.
pub(crate) fn random_token<const N: usize>(random: &dyn Random) -> Result<String, RandomError> {
    use base64::Engine as _;
    let mut bytes = [0u8; N];
    random.fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
