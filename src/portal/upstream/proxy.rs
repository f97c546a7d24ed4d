//! The reverse proxy: requests the gateway does not serve itself, gated by the rules, to the
//! upstream on hyper-util's pooled client. Bodies stream both ways; the request body is
//! limited; hop-by-hop fields are removed and `X-Forwarded-*` set. Once the upstream's head is
//! in, both bodies are bounded in time too ([`body_timeout`](super::body_timeout)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Query, RawQuery, Request, State};
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Redirect, Response};
use http_body_util::Limited;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

use super::body_timeout::{BodyTimeout, BodyTimeouts, Direction, Timed};
use super::check::{Outcome, gate, login_url};
use super::headers;
use super::pages::Refusal;
use super::referral::{GatedRequest, referral_page};
use super::{Requirement, Upstream};
use crate::i18n::Lang;
use crate::integrations::axum::{OptionalSession, with_step_up_challenge};
use crate::policy::Catalog;
use crate::portal::gateway::{Gateway, GatewayError};
use crate::portal::resident::ResidentQuery;

/// The upstream and the pooled client that reaches it.
pub(crate) struct UpstreamProxy {
    upstream: Upstream,
    authority: Authority,
    client: Client<HttpConnector, Body>,
}

impl std::fmt::Debug for UpstreamProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamProxy")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl UpstreamProxy {
    /// The proxy for `upstream`, once every procedure its rules name is in `catalog`.
    pub(crate) fn build(
        upstream: Option<Upstream>,
        catalog: &Catalog,
    ) -> Result<Option<Arc<Self>>, GatewayError> {
        let Some(upstream) = upstream else {
            return Ok(None);
        };
        for rule in upstream.rules() {
            if let Requirement::Procedure(code) = rule.requirement()
                && catalog.procedure(code.as_str()).is_none()
            {
                return Err(GatewayError::UnknownGateProcedure(
                    rule.path_prefix().to_owned(),
                ));
            }
        }
        let host = upstream.url().host_str().unwrap_or_default();
        let authority = match upstream.url().port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authority = Authority::try_from(authority.as_str())
            .map_err(|_| GatewayError::UnknownGateProcedure(upstream.url().to_string()))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(upstream.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Some(Arc::new(Self {
            upstream,
            authority,
            client,
        })))
    }

    /// The assertion's audience.
    pub(crate) fn audience(&self) -> &str {
        &self.upstream.audience
    }

    fn body_timeouts(&self) -> BodyTimeouts {
        BodyTimeouts {
            idle: self.upstream.body_idle_timeout,
            total: self.upstream.body_timeout,
        }
    }
}

/// The router's fallback: the upstream when one is configured, the portal's not-found answer
/// otherwise.
pub(crate) async fn fallback(
    State(gw): State<Arc<Gateway>>,
    OptionalSession(session): OptionalSession,
    request: Request,
) -> Response {
    let Some(proxy) = gw.upstream.clone() else {
        let uri = request.uri().clone();
        let query = RawQuery(uri.query().map(str::to_owned));
        return crate::portal::pages::fallback(uri, query).await;
    };
    // The resident's own query (`lang`, a login `outcome`, `in_person=1`): each can only lead
    // away from online filing, as on the portal's pages.
    let query = Query::<ResidentQuery>::try_from_uri(request.uri())
        .map(|Query(query)| query)
        .unwrap_or_default();
    let lang = query.lang();
    let json = wants_json(&request);
    let path = request.uri().path().to_owned();
    let Some(rule) = proxy.upstream.rule_for(&path) else {
        tracing::info!("no gate rule covers the requested path: refused");
        return Refusal::NoRule.response(lang, json);
    };
    if *rule.requirement() == Requirement::Public {
        return forward(&gw, &proxy, request, None).await;
    }
    let return_to = request
        .extensions()
        .get::<OriginalUri>()
        .map_or(request.uri(), |original| &original.0)
        .path_and_query()
        .map(|pq| pq.as_str().to_owned());
    let Some(gated) = gate(
        &gw,
        rule.requirement(),
        session.as_ref(),
        &query,
        request.headers(),
        return_to.as_deref(),
        proxy.audience(),
    )
    .await
    else {
        return Refusal::NoRule.response(lang, json);
    };
    match gated.outcome {
        Outcome::Online(identity) => {
            let identity = session
                .as_ref()
                .zip(identity)
                .map(|(session, identity)| (session, *identity));
            forward(&gw, &proxy, request, identity).await
        }
        Outcome::SignIn { login_url } if json => {
            let body = serde_json::json!({
                "error": "insufficient_user_authentication",
                "decision": gated.decision.kind_str(),
                "reason": gated.decision.reason().as_str(),
                "required_level": gated.procedure.online_level().number(),
                "login_url": login_url,
            });
            let response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            with_step_up_challenge(
                response,
                gw.default_provider().relying_party(),
                &gated.procedure,
                gated.procedure.max_auth_age().num_seconds(),
            )
        }
        Outcome::SignIn { login_url } => Redirect::to(&login_url).into_response(),
        Outcome::InPerson { referral, .. } if json => {
            let body = serde_json::json!({
                "decision": gated.decision.kind_str(),
                "reason": gated.decision.reason().as_str(),
                "referral": referral,
            });
            (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
        }
        Outcome::InPerson { ref referral, .. } => {
            // The portal's own referral page for a procedure rule; the gate's page for a level
            // rule, which names no procedure to book or ticket.
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip());
            let gated_request = GatedRequest {
                session: session.as_ref(),
                headers: request.headers(),
                uri: request.uri(),
                client: gw.rate_limiter().client_address(peer, request.headers()),
                lang,
            };
            let login_url = login_url(
                &gw,
                &gated.procedure,
                Some(gated.procedure.code().as_str()),
                lang,
                return_to.as_deref(),
            );
            match referral_page(&gw, &gated, &gated_request, &login_url).await {
                Some(page) => page,
                None => {
                    gw.gate()
                        .hooks()
                        .in_person_page(&gated.decision, referral.as_deref(), lang)
                }
            }
        }
    }
}

/// Sends `request` to the upstream with the identity headers of `identity`, and streams the
/// answer back.
async fn forward(
    gw: &Gateway,
    proxy: &UpstreamProxy,
    request: Request,
    identity: Option<(
        &crate::session::Session,
        (super::assertion::AssertionClaims, String),
    )>,
) -> Response {
    let lang = Lang::from_query(request.uri().query());
    let json = wants_json(&request);
    let limit = proxy.upstream.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Refusal::TooLarge.response(lang, json);
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (mut parts, body) = request.into_parts();
    let client = gw.rate_limiter().client_address(peer, &parts.headers);
    let forwarded_host = parts.headers.get(header::HOST).cloned().or_else(|| {
        gw.public_url
            .host_str()
            .and_then(|h| HeaderValue::from_str(h).ok())
    });

    let headers = &mut parts.headers;
    headers::remove_hop_by_hop(headers);
    headers::remove_own(headers);
    headers::remove_own_cookies(headers);
    // The client's own `X-Forwarded-*` are replaced, never trusted: the address is the one the
    // gateway's trusted-proxy rules resolved.
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        headers.insert("x-forwarded-for", value);
    }
    if let Ok(value) = HeaderValue::from_str(gw.public_url.scheme()) {
        headers.insert("x-forwarded-proto", value);
    }
    match forwarded_host {
        Some(host) => headers.insert("x-forwarded-host", host),
        None => headers.remove("x-forwarded-host"),
    };
    if let Ok(host) = HeaderValue::from_str(proxy.authority.as_str()) {
        headers.insert(header::HOST, host);
    }
    if let Some((session, (claims, jws))) = &identity {
        headers::insert_identity(headers, session, claims, jws);
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let Ok(uri) = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(proxy.authority.clone())
        .path_and_query(path_and_query)
        .build()
    else {
        return Refusal::Unreachable.response(lang, json);
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let (uploaded, upload_done) = oneshot::channel();
    let body = Body::new(
        Timed::new(
            Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)),
            Direction::Request,
            proxy.body_timeouts(),
        )
        .signal_drop(uploaded),
    );
    let sent = answer_after_upload(
        proxy.client.request(Request::from_parts(parts, body)),
        upload_done,
        proxy.upstream.connect_timeout + proxy.upstream.body_timeout,
        proxy.upstream.response_timeout,
    )
    .await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            if caused_by::<http_body_util::LengthLimitError>(&error) {
                return Refusal::TooLarge.response(lang, json);
            }
            if caused_by::<BodyTimeout>(&error) {
                return Refusal::SlowUpload.response(lang, json);
            }
            tracing::warn!(error = %error, "the upstream could not be reached");
            return Refusal::Unreachable.response(lang, json);
        }
        Err(_) => {
            tracing::warn!("the upstream did not answer in time");
            return Refusal::Timeout.response(lang, json);
        }
    };
    let (mut parts, body) = response.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    let body = Timed::new(body, Direction::Response, proxy.body_timeouts());
    Response::from_parts(parts, Body::new(body))
}

/// The upstream's `answer`, given at most `response_timeout` from the moment the resident's
/// upload has been sent (`upload_done`): a large scan over a slow line must not run out the
/// time the upstream has to answer. The upload itself is bounded by the body timeouts while
/// hyper reads it; `upload_bound` (connecting and the longest upload) also ends an exchange
/// whose upstream stops reading. An upstream may answer before the upload ends.
async fn answer_after_upload<F: Future>(
    answer: F,
    upload_done: oneshot::Receiver<()>,
    upload_bound: Duration,
    response_timeout: Duration,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut answer = std::pin::pin!(answer);
    let early = tokio::time::timeout(upload_bound, async {
        tokio::select! {
            biased;
            answered = &mut answer => Some(answered),
            // Sent or not, the body is gone: the exchange either answers or fails now.
            _ = upload_done => None,
        }
    })
    .await?;
    match early {
        Some(answered) => Ok(answered),
        None => tokio::time::timeout(response_timeout, answer).await,
    }
}

/// Whether sending the client's body failed because of `E` (over the limit, too slow).
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<E>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether the client asked for JSON rather than a page.
fn wants_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

impl Gateway {
    /// The audience of `/auth/check`'s assertions: the upstream's when one is configured, the
    /// gateway's own origin otherwise.
    pub(crate) fn upstream_audience(&self) -> String {
        self.upstream.as_ref().map_or_else(
            || self.public_url.origin().ascii_serialization(),
            |proxy| proxy.audience().to_owned(),
        )
    }
}

impl Gateway {
    /// The catalog procedure whose `[[gate]]` rule covers `return_path`, the gated upstream path
    /// a login returns to: a failed login there is remembered for that procedure.
    pub(crate) fn gated_procedure(&self, return_path: &str) -> Option<&crate::policy::Procedure> {
        let path = return_path.split(['?', '#']).next()?;
        let rule = self.upstream.as_ref()?.upstream.rule_for(path)?;
        match rule.requirement() {
            Requirement::Procedure(code) => self.procedure(code.as_str()),
            Requirement::Level(_) | Requirement::Public => None,
        }
    }
}
