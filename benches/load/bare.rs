//! The bare baseline of the load benchmark: axum on hyper and Tokio serving the bytes of the
//! gateway's ungated stylesheet route, with no layer at all (no tracing, metrics, security
//! headers, request id, rate limit or header limits), on the same runtime and allocator as the
//! example gateway. `benches/load/run` measures it in the same run as the gateway, so the
//! "ungated route vs bare" ratio is the cost of the gateway's layers alone.
//!
//! With a route after the file it serves the file there instead: the upstream portal that the
//! gateway in gateway mode and Apache's `ProxyPass` both proxy for the "proxied gated page" row.
//!
//! ```text
//! bare_baseline 127.0.0.1:PORT path/to/style.css [ROUTE]
//! ```

#![allow(
    clippy::print_stderr,
    reason = "a benchmark tool reports to its terminal"
)]

use std::process::ExitCode;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

// As in the example gateway: the comparison is of the layers, not of the allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(bind), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_baseline ADDRESS:PORT FILE [ROUTE]");
        return ExitCode::from(2);
    };
    let route = args
        .next()
        .unwrap_or_else(|| "/assets/style.css".to_owned());
    // The upstream's page is HTML; the baseline's stylesheet is CSS.
    let content_type = if route.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/html; charset=utf-8"
    };
    let body: &'static [u8] = match std::fs::read(&path) {
        Ok(bytes) => bytes.leak(),
        Err(error) => {
            eprintln!("bare_baseline: cannot read {path}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new().route(
        &route,
        get(move || async move { ([(CONTENT_TYPE, content_type)], body) }),
    );
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bare_baseline: cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bare_baseline: {error}");
            ExitCode::FAILURE
        }
    }
}
