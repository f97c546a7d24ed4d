//! An independent OpenID Provider for interoperability tests: panva's `oidc-provider` (OpenID
//! Certified), run by `interop/provider.mjs` under Node.js on a free loopback port.
//!
//! Needs `node` on the `PATH` and the npm packages: `npm ci --prefix interop`. The tests that use
//! it are `#[ignore]`d for that reason; `.ci/run` installs the packages and runs them.
//!
//! [`OidcProvider::drive_login`] plays the browser: it follows the provider's redirects, picks a
//! persona on the provider's interaction page and stops at the first redirect to the relying
//! party, never contacting the relying party itself.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a provider that cannot be started or driven stops the test with a clear message"
)]

use std::io::{BufRead as _, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::rand::SecureRandom as _;
use url::Url;

/// How long the provider may take to print `READY`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often start-up is retried when the port picked was taken in the meantime.
const START_ATTEMPTS: usize = 3;
/// Most redirects and form posts one login may take.
const MAX_HOPS: usize = 12;
/// Most bytes of the provider's standard error kept for failure messages.
const STDERR_LIMIT: usize = 64 * 1024;

/// The confidential client that authenticates with HTTP Basic and gets RS256 ID tokens.
pub(crate) const RS256_CLIENT: &str = "wardgate-rs256";
/// The public client (PKCE only) that gets ES256 ID tokens.
pub(crate) const ES256_CLIENT: &str = "wardgate-es256";
/// The confidential client that sends its secret in the token request body.
pub(crate) const POST_CLIENT: &str = "wardgate-post";
/// The `acr` value of a level-1 login.
pub(crate) const ACR_LEVEL_1: &str = "urn:wardgate:interop:loa:1";
/// The `acr` value of a level-2 login.
pub(crate) const ACR_LEVEL_2: &str = "urn:wardgate:interop:loa:2";

/// A running `oidc-provider`; the process is killed when this is dropped.
pub(crate) struct OidcProvider {
    child: Child,
    issuer: String,
    issuer_url: Url,
    redirect_uris: Vec<Url>,
    rs256_secret: String,
    post_secret: String,
    stderr: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts the provider with every client registered for exactly `redirect_uris`.
    ///
    /// Panics with the provider's output when it does not become ready within 20 seconds.
    pub(crate) fn start(redirect_uris: &[&str]) -> Self {
        Self::start_with_client_auth_methods(redirect_uris, &[])
    }

    /// Like [`start`](Self::start), offering only the token endpoint authentication `methods`
    /// (all when empty) and registering only the clients that use one of them.
    ///
    /// oidc-provider accepts `client_secret_basic` and `client_secret_post` interchangeably;
    /// offering only `client_secret_post` is how a test makes a relying party use it.
    pub(crate) fn start_with_client_auth_methods(redirect_uris: &[&str], methods: &[&str]) -> Self {
        let redirect_uris: Vec<Url> = redirect_uris
            .iter()
            .map(|uri| Url::parse(uri).unwrap_or_else(|e| panic!("redirect uri `{uri}`: {e}")))
            .collect();
        assert!(!redirect_uris.is_empty(), "give at least one redirect uri");
        let script = interop_dir().join("provider.mjs");
        assert!(
            interop_dir().join("node_modules/oidc-provider").is_dir(),
            "the oidc-provider npm package is missing: run `npm ci --prefix interop`"
        );

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&script, &redirect_uris, methods) {
                Ok(provider) => return provider,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "oidc-provider did not start after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// The issuer identifier as a URL, `http://127.0.0.1:<port>/` (the `url` crate adds the
    /// slash; compare with [`issuer_str`](Self::issuer_str) where exact equality matters).
    pub(crate) fn issuer(&self) -> Url {
        self.issuer_url.clone()
    }

    /// The issuer identifier exactly as the provider states it (`iss`, discovery `issuer`):
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub(crate) fn issuer_str(&self) -> &str {
        &self.issuer
    }

    /// The secret of a confidential client ([`RS256_CLIENT`] or [`POST_CLIENT`]).
    pub(crate) fn client_secret(&self, client_id: &str) -> &str {
        match client_id {
            RS256_CLIENT => &self.rs256_secret,
            POST_CLIENT => &self.post_secret,
            other => panic!("client `{other}` has no secret"),
        }
    }

    /// Plays the browser's part of a login: follows the provider's redirects from
    /// `authorization_url`, chooses `persona` (`level2`, `level2b`, `level1` or `cancel`) on
    /// the interaction page and returns the callback URL the provider redirects to, with its
    /// `code`, `state` and `iss`, or its `error`. Each call is a fresh browser: no provider
    /// session carries over (see [`drive_login_in`](Self::drive_login_in)).
    ///
    /// Panics when the provider answers something a browser could not follow, or after 12 hops.
    pub(crate) async fn drive_login(&self, authorization_url: &Url, persona: &str) -> Url {
        self.drive_login_in(&Self::browser(), authorization_url, persona)
            .await
    }

    /// A browser for the provider's pages: it keeps the provider's cookies, so a login driven
    /// with it by [`drive_login_in`](Self::drive_login_in) leaves the provider's session in it
    /// for the next one, as a real browser on a shared device does. It follows no redirect.
    pub(crate) fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("browser client")
    }

    /// [`drive_login`](Self::drive_login) in `browser`, with the provider session it holds.
    pub(crate) async fn drive_login_in(
        &self,
        browser: &reqwest::Client,
        authorization_url: &Url,
        persona: &str,
    ) -> Url {
        let mut next = authorization_url.clone();
        let mut trail = Vec::new();
        for _ in 0..MAX_HOPS {
            if self.is_redirect_uri(&next) {
                return next;
            }
            assert_eq!(
                next.origin(),
                self.issuer_url.origin(),
                "login left the provider for `{next}` (trail: {trail:?})"
            );
            trail.push(next.path().to_owned());
            let response = if next.path().starts_with("/interaction/") {
                self.choose_persona(browser, &next, persona).await
            } else {
                browser
                    .get(next.clone())
                    .send()
                    .await
                    .expect("provider request")
            };
            let response = submit_if_self_submitting(browser, &next, response).await;
            next = follow(&next, response, &trail).await;
        }
        panic!("login took more than {MAX_HOPS} hops: {trail:?}");
    }

    fn try_start(script: &Path, redirect_uris: &[Url], methods: &[&str]) -> Result<Self, String> {
        let port = free_port();
        let rs256_secret = random_secret();
        let post_secret = random_secret();
        let joined: Vec<&str> = redirect_uris.iter().map(Url::as_str).collect();
        let mut command = Command::new("node");
        if methods.is_empty() {
            command.env_remove("CLIENT_AUTH_METHODS");
        } else {
            command.env("CLIENT_AUTH_METHODS", methods.join(","));
        }
        let mut child = command
            .arg(script)
            .current_dir(interop_dir())
            .env("PORT", port.to_string())
            .env_remove("ISSUER")
            .env("RP_REDIRECT_URIS", joined.join(","))
            .env("RS256_CLIENT_SECRET", &rs256_secret)
            .env("POST_CLIENT_SECRET", &post_secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `node {}`: {e}", script.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || drain(pipe, &sink));
        }
        let ready = match child.stdout.take() {
            Some(stdout) => wait_ready(stdout),
            None => Err("the provider's standard output was not captured".to_owned()),
        };
        let issuer = match ready {
            Ok(issuer) => issuer,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{reason}\nstderr:\n{}", lock(&stderr)));
            }
        };
        let issuer_url = Url::parse(&issuer).map_err(|e| format!("issuer `{issuer}`: {e}"))?;
        Ok(Self {
            child,
            issuer,
            issuer_url,
            redirect_uris: redirect_uris.to_vec(),
            rs256_secret,
            post_secret,
            stderr,
        })
    }

    /// Loads the interaction page, then posts the persona to it.
    async fn choose_persona(
        &self,
        browser: &reqwest::Client,
        page: &Url,
        persona: &str,
    ) -> reqwest::Response {
        let shown = browser
            .get(page.clone())
            .send()
            .await
            .expect("interaction page");
        let status = shown.status();
        let body = shown.text().await.unwrap_or_default();
        assert!(
            status.is_success() && body.contains(&format!("value=\"{persona}\"")),
            "interaction page {page} answered {status} without persona `{persona}`: {body}\nprovider stderr:\n{}",
            lock(&self.stderr)
        );
        let mut login = page.clone();
        login.set_path(&format!("{}/login", page.path()));
        browser
            .post(login)
            .form(&[("persona", persona)])
            .send()
            .await
            .expect("interaction login")
    }

    fn is_redirect_uri(&self, url: &Url) -> bool {
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        self.redirect_uris.contains(&bare)
    }
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("pid", &self.child.id())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // Kills this child only, by its own pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts a self-submitting form as a browser's script would, and returns the answer; any
/// other response is returned as it is.
///
/// oidc-provider answers with one (`document.forms[0].submit()`) when a login for another
/// account ends the session the browser already had there: the form confirms that sign-out,
/// then the provider resumes the login.
async fn submit_if_self_submitting(
    browser: &reqwest::Client,
    from: &Url,
    response: reqwest::Response,
) -> reqwest::Response {
    if response.status() != reqwest::StatusCode::OK {
        return response;
    }
    let body = response.text().await.unwrap_or_default();
    let form = body
        .contains("document.forms[0].submit()")
        .then(|| body.split("<form method=\"post\" action=\"").nth(1))
        .flatten()
        .unwrap_or_else(|| panic!("{from} answered 200 OK instead of a redirect: {body}"));
    let action = form
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&");
    let action = from
        .join(&action)
        .unwrap_or_else(|e| panic!("form action `{action}` from {from}: {e}"));
    assert_eq!(
        action.origin(),
        from.origin(),
        "the form leaves the provider"
    );
    let fields: Vec<(String, String)> = form
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|input| {
            let (name, rest) = input.split_once('"')?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.replace("&amp;", "&")))
        })
        .collect();
    browser
        .post(action)
        .form(&fields)
        .send()
        .await
        .expect("self-submitting form")
}

/// The `Location` a redirect points to, resolved against the request URL.
async fn follow(from: &Url, response: reqwest::Response, trail: &[String]) -> Url {
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status.is_redirection() => from
            .join(&location)
            .unwrap_or_else(|e| panic!("redirect to `{location}` from {from}: {e}")),
        _ => {
            let body = response.text().await.unwrap_or_default();
            panic!("{from} answered {status} instead of a redirect (trail: {trail:?}): {body}")
        }
    }
}

/// The directory holding `provider.mjs` and its `node_modules`.
fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("random bytes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Waits for the `READY <issuer>` line; returns the issuer.
fn wait_ready(stdout: ChildStdout) -> Result<String, String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = sender.send(first);
        // Keep reading so the provider never blocks on a full pipe.
        for _ in lines {}
    });
    let started = Instant::now();
    match receiver.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line
            .strip_prefix("READY ")
            .map(str::to_owned)
            .ok_or_else(|| format!("expected `READY <issuer>`, got `{line}`")),
        Ok(Some(Err(e))) => Err(format!("reading the provider's output: {e}")),
        Ok(None) | Err(RecvTimeoutError::Disconnected) => {
            Err("the provider exited before it was ready".to_owned())
        }
        Err(RecvTimeoutError::Timeout) => Err(format!(
            "the provider was not ready after {:?}",
            started.elapsed()
        )),
    }
}

fn drain(mut pipe: impl Read, sink: &Mutex<String>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer) {
        if n == 0 {
            break;
        }
        let mut kept = lock(sink);
        if kept.len() < STDERR_LIMIT {
            kept.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    }
}

fn lock(text: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    text.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
