//! The outbox on `/metrics`: a dossier filed while the back office is unreachable shows as
//! pending, with its age, until a later round delivers it; each attempt is counted by outcome;
//! a store that cannot be read leaves the gauges out and is counted.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use tokio::net::TcpListener;
use wardgate::Clock as _;
use wardgate::clock::{FixedClock, Random, SystemRandom};
use wardgate::oidc::{HttpClient, ReqwestHttp};
use wardgate::store::{MemoryStore, OutboxStatus, Store};
use wardgate::submission::{DeliveryObserver, DossierCode, Outbox};

use crate::gateway::{BIRTH, TestGateway, body_json, example_dossier, submission};
use crate::support::ticket_faults::TicketFaults;

/// The outbox worker the example gateway runs, sending to `endpoint` through `http` and
/// counting into the gateway's metrics.
fn worker(
    gw: &TestGateway,
    store: Arc<dyn Store>,
    clock: Arc<FixedClock>,
    http: Arc<dyn HttpClient>,
    endpoint: &str,
) -> Outbox {
    let random: Arc<dyn Random> = Arc::new(SystemRandom::new());
    Outbox::new(
        store,
        http,
        endpoint.parse().unwrap(),
        Arc::clone(gw.gateway().dossier_sealer()),
        clock,
        random,
    )
    .observer(Arc::clone(gw.gateway().metrics()) as Arc<dyn DeliveryObserver>)
}

/// Files the example birth registration as a level-2 resident; returns its dossier code.
async fn file_one(gw: &TestGateway) -> DossierCode {
    let (_, session) = gw.sign_in("level2").await;
    let dossier = example_dossier(gw, BIRTH).await;
    let path = format!("/api/procedures/{BIRTH}/submissions");
    let filed = gw
        .send(submission(
            &path,
            session.as_deref(),
            Some("key-1"),
            &dossier,
        ))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let code = body_json(filed).await["dossier_code"]
        .as_str()
        .unwrap()
        .to_owned();
    DossierCode::parse(&code).unwrap()
}

/// The value of the unlabelled sample `name`, if the text has it.
fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn a_dossier_waiting_for_the_back_office_shows_on_metrics_until_delivered() {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let store = Arc::new(MemoryStore::new());
    let gateway_clock: Arc<dyn wardgate::Clock> = clock.clone();
    let gw =
        TestGateway::with_parts(store.clone(), move |parts| parts.with_clock(gateway_clock)).await;
    let before = gw.metrics_text().await;
    assert_eq!(gauge(&before, "wardgate_outbox_pending"), Some(0));
    assert_eq!(
        gauge(&before, "wardgate_outbox_oldest_pending_seconds"),
        Some(0)
    );

    let code = file_one(&gw).await;

    // The back office is unreachable: a port nothing listens on.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let unreachable = worker(
        &gw,
        store.clone(),
        Arc::clone(&clock),
        Arc::new(ReqwestHttp::new().unwrap()),
        &format!("http://{closed}/dossiers"),
    );
    let report = unreachable.run_once(clock.now()).await.unwrap();
    assert_eq!(report.retried, 1);

    clock.advance(Duration::minutes(15));
    let waiting = gw.metrics_text().await;
    for line in [
        "wardgate_outbox_pending 1\n",
        "wardgate_outbox_parked 0\n",
        "wardgate_outbox_oldest_pending_seconds 900\n",
        "wardgate_outbox_deliveries_total{outcome=\"retry\"} 1\n",
        "wardgate_outbox_summary_errors_total 0\n",
    ] {
        assert!(waiting.contains(line), "{line}{waiting}");
    }
    assert!(!waiting.contains("outcome=\"delivered\""), "{waiting}");
    // No dossier code reaches the metrics.
    assert!(!waiting.contains(code.as_str()), "{waiting}");

    // The back office is back: the next round delivers it.
    let back: Arc<dyn HttpClient> = Arc::new(|_request: http::Request<Vec<u8>>| async {
        Ok(http::Response::builder()
            .status(202)
            .body(Vec::new())
            .unwrap())
    });
    let report = worker(
        &gw,
        store.clone(),
        Arc::clone(&clock),
        back,
        "http://backoffice.example/dossiers",
    )
    .run_once(clock.now())
    .await
    .unwrap();
    assert_eq!(report.delivered, 1);
    let entry = store.outbox_entry(&code).await.unwrap().unwrap();
    assert_eq!(entry.status, OutboxStatus::Delivered);
    let delivered = gw.metrics_text().await;
    for line in [
        "wardgate_outbox_pending 0\n",
        "wardgate_outbox_parked 0\n",
        "wardgate_outbox_oldest_pending_seconds 0\n",
        "wardgate_outbox_deliveries_total{outcome=\"delivered\"} 1\n",
        "wardgate_outbox_deliveries_total{outcome=\"retry\"} 1\n",
    ] {
        assert!(delivered.contains(line), "{line}{delivered}");
    }
}

#[tokio::test]
async fn metrics_answer_without_the_outbox_gauges_when_the_store_cannot_be_read() {
    let store = Arc::new(TicketFaults::default());
    let gw = TestGateway::with_parts(store.clone(), |parts| parts).await;
    assert_eq!(
        gauge(&gw.metrics_text().await, "wardgate_outbox_parked"),
        Some(0)
    );

    store.fail_outbox_summaries();
    let text = gw.metrics_text().await;
    assert!(
        text.contains("wardgate_outbox_summary_errors_total 1\n"),
        "{text}"
    );
    for name in [
        "wardgate_outbox_pending",
        "wardgate_outbox_parked",
        "wardgate_outbox_oldest_pending_seconds",
    ] {
        assert_eq!(gauge(&text, name), None, "{text}");
        assert!(!text.contains(&format!("# TYPE {name} ")), "{text}");
    }
    // The rest is there.
    assert!(
        text.contains("# TYPE wardgate_http_requests_total counter\n"),
        "{text}"
    );
}
