//! Outbound HTTP to identity providers: an injectable client and the default one on reqwest.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future, as returned by [`HttpClient::execute`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Executes HTTP requests to the identity provider.
///
/// Injected so tests can answer with canned responses and portals can add proxies or mutual
/// TLS. Any implementation must refuse to follow redirects (a provider endpoint that redirects
/// could be used to reach internal hosts), use timeouts, and cap the size of responses.
/// [`ReqwestHttp`] does all three.
///
/// Closures `Fn(http::Request<Vec<u8>>) -> impl Future<Output = Result<http::Response<Vec<u8>>,
/// HttpError>>` implement this trait.
pub trait HttpClient: Send + Sync {
    /// Sends `request` and returns the whole response.
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>>;
}

impl<F, Fut> HttpClient for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, HttpError>> + Send + 'static,
{
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(self(request))
    }
}

/// An HTTP exchange with the provider failed before a complete response arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The provider did not answer in time.
    #[error("the request to `{host}` timed out")]
    Timeout {
        /// The host that was called.
        host: String,
    },
    /// The connection failed.
    #[error("could not reach `{host}`")]
    Connect {
        /// The host that was called.
        host: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The response was larger than allowed.
    #[error("the response from `{host}` exceeds {limit} bytes")]
    TooLarge {
        /// The host that was called.
        host: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A [`CircuitBreaker`](super::CircuitBreaker) refused the call: the provider failed
    /// repeatedly and its cool-down has not passed.
    #[error("calls to `{host}` are suspended after repeated failures")]
    CircuitOpen {
        /// The host that was not called.
        host: String,
    },
    /// Any other transport failure.
    #[error("the request to `{host}` failed")]
    Other {
        /// The host that was called.
        host: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The default [`HttpClient`], on reqwest with rustls.
///
/// Never follows redirects; 5 s to connect, 10 s per request, responses capped at 1 MiB by
/// default.
#[derive(Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
    max_response_bytes: usize,
}

impl fmt::Debug for ReqwestHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestHttp")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl ReqwestHttp {
    /// The default response-size limit: 1 MiB.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

    /// A client with the default timeouts and limits.
    ///
    /// # Errors
    ///
    /// [`HttpError::Other`] when the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, HttpError> {
        Self::with_limits(
            Duration::from_secs(5),
            Duration::from_secs(10),
            Self::DEFAULT_MAX_RESPONSE_BYTES,
        )
    }

    /// A client with the given connect timeout, whole-request timeout and response-size limit.
    ///
    /// # Errors
    ///
    /// [`HttpError::Other`] when the TLS backend cannot be initialised.
    pub fn with_limits(
        connect_timeout: Duration,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("wardgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Other {
                host: String::new(),
                source: Box::new(e),
            })?;
        Ok(Self {
            client,
            max_response_bytes,
        })
    }

    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                HttpError::Timeout { host: host.clone() }
            } else if e.is_connect() {
                HttpError::Connect {
                    host: host.clone(),
                    source: Box::new(e),
                }
            } else {
                HttpError::Other {
                    host: host.clone(),
                    source: Box::new(e),
                }
            }
        };
        let request = reqwest::Request::try_from(request).map_err(classify)?;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let too_large = || HttpError::TooLarge {
            host: host.clone(),
            limit: self.max_response_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| HttpError::Other {
            host: host.clone(),
            source: Box::new(e),
        })
    }
}

impl HttpClient for ReqwestHttp {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(self.send(request))
    }
}
