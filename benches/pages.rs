//! The cost of the resident pages, through the portal's router in process (no socket): the
//! home page, the procedure page for a signed-out resident (sign-in offer and checklist), the
//! same page for a level-2 session (the online form, mostly cached fragments) and the in-person
//! referral (ticket, opening hours, booking slots). Each request includes the session check and
//! the decision, so what changes between two builds of the same code is the page rendering.
//!
//! Run: `cargo bench --no-default-features --features axum,devidp --bench pages`
//!
//! With `PAGES_BENCH_ITERATIONS=N` set, it skips criterion and serves each page `N` times (or
//! only the page `PAGES_BENCH_ONLY` names), for instruction counts that do not depend on the
//! machine's load:
//!
//! ```text
//! PAGES_BENCH_ITERATIONS=100 PAGES_BENCH_ONLY=procedure_online_level2 \
//!     valgrind --tool=callgrind --callgrind-out-file=pages.out target/release/deps/pages-HASH
//! callgrind_annotate --inclusive=yes pages.out | grep 'Oneshot<S,Req>'
//! ```

#![allow(missing_docs, reason = "benchmark binary")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark setup"
)]

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode, header};
use criterion::{Criterion, criterion_group};
use tower::ServiceExt as _;
use url::Url;
use wardgate::assurance::{AcrTable, LevelSource};
use wardgate::clock::{Random, SystemRandom};
use wardgate::devidp::{self, DevIdp, DevIdpConfig, DevIdpHandle};
use wardgate::fallback::Directory;
use wardgate::oidc::{ClientConfig, RelyingParty, ReqwestHttp};
use wardgate::policy::Catalog;
use wardgate::portal::config::StaffConfig;
use wardgate::portal::data_dir::GatewayKeys;
use wardgate::portal::{Gateway, gateway_router};
use wardgate::session::SessionConfig;
use wardgate::store::MemoryStore;
use wardgate::{Clock, SystemClock};

const PUBLIC: &str = "http://127.0.0.1:8080";
const BIRTH: &str = "1.001193";

/// The router, a level-2 session cookie and a referral's ticket cookie.
struct Portal {
    router: Router,
    session: String,
    ticket: String,
    _idp: DevIdpHandle,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn send(router: &Router, path: &str, cookie: Option<&str>) -> Response<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn cookie_named(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")) && !c.starts_with(&format!("{name}=;")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn location(response: &Response<Body>) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

async fn start() -> Portal {
    let redirect = format!("{PUBLIC}/auth/callback");
    let idp = DevIdp::start(DevIdpConfig::new().client(
        devidp::DEFAULT_CLIENT_ID,
        Some(devidp::DEFAULT_CLIENT_SECRET),
        [redirect.as_str()],
    ))
    .await
    .unwrap();
    let dir = TempDir(std::env::temp_dir().join(format!("wardgate-pages-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
    let client = ClientConfig::new(devidp::DEFAULT_CLIENT_ID, Url::parse(&redirect).unwrap())
        .client_secret(devidp::DEFAULT_CLIENT_SECRET)
        .level_source(LevelSource::acr(
            AcrTable::new([devidp::ACR_LEVEL_1], [devidp::ACR_LEVEL_2]).unwrap(),
        ))
        .fetch_userinfo(true);
    let rp = RelyingParty::discover(
        idp.issuer().as_str(),
        client,
        ReqwestHttp::new().unwrap(),
        Arc::clone(&clock),
        Arc::clone(&random),
    )
    .await
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = Catalog::load(format!("{root}/samples/catalog.toml")).unwrap();
    let directory = Directory::load(format!("{root}/samples/wards.toml")).unwrap();
    let ward = directory.wards()[0].code;
    let keys = GatewayKeys::load_or_create(&dir.0, random.as_ref()).unwrap();
    let gateway = Gateway::builder(Url::parse(PUBLIC).unwrap())
        .relying_party(rp)
        .catalog(catalog)
        .directory(directory, ward)
        .store(Arc::new(MemoryStore::new()))
        .keys(keys)
        .with_sessions(SessionConfig::default())
        .with_staff(StaffConfig::new(Vec::new(), None))
        .with_clock(clock)
        .with_random(random)
        .build()
        .unwrap();
    let router = gateway_router(gateway);

    // Sign the level-2 persona in the way a browser does.
    let login = send(&router, &format!("/login?procedure={BIRTH}"), None).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = login
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    let authorize = Url::parse(location(&login)).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let chooser = http.get(authorize.clone()).send().await.unwrap();
    let interaction = authorize
        .join(chooser.headers()[header::LOCATION].to_str().unwrap())
        .unwrap();
    let chosen = http
        .post(interaction.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("persona=level2")
        .send()
        .await
        .unwrap();
    let callback = interaction
        .join(chosen.headers()[header::LOCATION].to_str().unwrap())
        .unwrap();
    let path = format!("{}?{}", callback.path(), callback.query().unwrap_or(""));
    let signed_in = send(&router, &path, Some(&flow)).await;
    let session = cookie_named(&signed_in, "wardgate-session").expect("a level-2 session");

    // A referral hands out a ticket once; the browser then keeps showing the same one.
    let referral = send(
        &router,
        &format!("/procedures/{BIRTH}?outcome=no_eid"),
        None,
    )
    .await;
    let ticket = cookie_named(&referral, "wardgate-ticket").expect("a ticket cookie");
    Portal {
        router,
        session,
        ticket,
        _idp: idp,
        _dir: dir,
    }
}

/// The pages measured: name, path, cookie.
fn pages(portal: &Portal) -> [(&'static str, String, Option<&str>); 4] {
    [
        ("home", "/".to_owned(), None),
        ("procedure_sign_in", format!("/procedures/{BIRTH}"), None),
        (
            "procedure_online_level2",
            format!("/procedures/{BIRTH}"),
            Some(portal.session.as_str()),
        ),
        (
            "procedure_referral",
            format!("/procedures/{BIRTH}?outcome=no_eid"),
            Some(portal.ticket.as_str()),
        ),
    ]
}

async fn serve(router: &Router, path: &str, cookie: Option<&str>) -> usize {
    page(router, path, cookie).await.len()
}

async fn page(router: &Router, path: &str, cookie: Option<&str>) -> Vec<u8> {
    let response = send(router, path, cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let portal = runtime.block_on(start());
    let mut group = c.benchmark_group("pages");
    for (name, path, cookie) in pages(&portal) {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(serve(&portal.router, black_box(&path), cookie)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(iterations) = std::env::var("PAGES_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let portal = runtime.block_on(start());
        // `PAGES_BENCH_ONLY=NAME` serves that page only.
        let only = std::env::var("PAGES_BENCH_ONLY").ok();
        for (name, path, cookie) in pages(&portal) {
            if only.as_deref().is_some_and(|only| only != name) {
                continue;
            }
            let mut bytes = 0;
            for _ in 0..iterations {
                bytes = runtime.block_on(serve(&portal.router, &path, cookie));
            }
            println!("{name}: {iterations} requests, {bytes} bytes each");
        }
        return;
    }
    // With `PAGES_BENCH_DUMP=DIR`, it writes each page to `DIR/NAME.html` (to compare the
    // pages of two builds).
    if let Ok(dir) = std::env::var("PAGES_BENCH_DUMP") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let portal = runtime.block_on(start());
        for (name, path, cookie) in pages(&portal) {
            let html = runtime.block_on(page(&portal.router, &path, cookie));
            std::fs::write(format!("{dir}/{name}.html"), html).unwrap();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
