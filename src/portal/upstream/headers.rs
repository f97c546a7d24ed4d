//! The headers of gateway mode: the identity headers given to the upstream, and the headers a
//! proxy removes or sets on the way (RFC 9110 §7.6.1 for hop-by-hop fields).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::assertion::AssertionClaims;
use crate::session::Session;

/// The level of the session, `1` or `2`.
pub(crate) const LEVEL: HeaderName = HeaderName::from_static("x-wardgate-level");
/// The subject pseudonym.
pub(crate) const SUBJECT: HeaderName = HeaderName::from_static("x-wardgate-subject");
/// The procedure that gated the request (absent for a level rule).
pub(crate) const PROCEDURE: HeaderName = HeaderName::from_static("x-wardgate-procedure");
/// The signed assertion.
pub(crate) const ASSERTION: HeaderName = HeaderName::from_static("x-wardgate-assertion");
/// Where to sign in (`/auth/check`'s `401`).
pub(crate) const LOGIN: HeaderName = HeaderName::from_static("x-wardgate-login");
/// Where to go in person (`/auth/check`'s `403`).
pub(crate) const REFERRAL: HeaderName = HeaderName::from_static("x-wardgate-referral");

/// The prefix of every header wardgate speaks for; a client's are removed.
const OWN_PREFIX: &str = "x-wardgate-";

/// Fields that concern one connection only, never forwarded (RFC 9110 §7.6.1, plus the
/// `Proxy-*` fields and the obsolete `Keep-Alive`).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
];

/// Removes the hop-by-hop fields: those `Connection` names, then the fixed list and every
/// `Proxy-*` field.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
}

/// Removes every `X-Wardgate-*` field a client sent, so that only the gateway speaks for the
/// resident.
pub(crate) fn remove_own(headers: &mut HeaderMap) {
    let own: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(OWN_PREFIX))
        .cloned()
        .collect();
    for name in own {
        headers.remove(name);
    }
}

/// Removes the gateway's own cookies (session, login flow, ticket) from `Cookie`: they are the
/// resident's credentials at the gateway, of no use to the upstream.
pub(crate) fn remove_own_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !is_own_cookie(pair))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

fn is_own_cookie(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or_default().trim();
    let name = name.strip_prefix("__Host-").unwrap_or(name);
    name.starts_with("wardgate-")
}

/// Sets the identity headers for `session`.
pub(crate) fn insert_identity(
    headers: &mut HeaderMap,
    session: &Session,
    claims: &AssertionClaims,
    assertion: &str,
) {
    headers.insert(LEVEL, HeaderValue::from(u16::from(claims.level)));
    if let Ok(subject) = HeaderValue::from_str(session.subject()) {
        headers.insert(SUBJECT, subject);
    }
    if let Some(procedure) = claims
        .procedure
        .as_deref()
        .and_then(|code| HeaderValue::from_str(code).ok())
    {
        headers.insert(PROCEDURE, procedure);
    }
    if let Ok(assertion) = HeaderValue::from_str(assertion) {
        headers.insert(ASSERTION, assertion);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic x"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn a_client_cannot_send_identity_headers_or_pass_on_the_gateway_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-wardgate-level", HeaderValue::from_static("2"));
        headers.insert("X-Wardgate-Anything", HeaderValue::from_static("x"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("wardgate-session=abc; app=1; __Host-wardgate-ticket=t"),
        );
        remove_own(&mut headers);
        remove_own_cookies(&mut headers);
        assert!(headers.get("x-wardgate-level").is_none());
        assert!(headers.get("x-wardgate-anything").is_none());
        assert_eq!(headers[header::COOKIE], "app=1");
    }
}
