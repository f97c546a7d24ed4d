//! A browser's cookie jar for tests that drive the gateway's router in-process: cookies go out
//! on every request and come back from `Set-Cookie`, removals (`Max-Age=0`) included. Paths,
//! domains and expiry are not modelled: the tests that need them look at `Set-Cookie` itself.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, Response, header};

use crate::gateway::set_cookies;

/// Cookie name to value.
pub(crate) type Jar = BTreeMap<String, String>;

/// Puts the jar's cookies on `request` (no `Cookie` header when the jar is empty).
pub(crate) fn attach(jar: &Jar, request: &mut Request<Body>) {
    if jar.is_empty() {
        return;
    }
    let cookies = jar
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    request
        .headers_mut()
        .insert(header::COOKIE, cookies.parse().unwrap());
}

/// Keeps what `response` sets and drops what it removes.
pub(crate) fn keep(jar: &mut Jar, response: &Response<Body>) {
    for cookie in set_cookies(response) {
        let pair = cookie.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        if cookie.contains("Max-Age=0") {
            jar.remove(name);
        } else {
            jar.insert(name.to_owned(), value.to_owned());
        }
    }
}
