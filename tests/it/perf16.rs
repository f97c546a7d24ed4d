//! [`wardgate::portal::serve`] watches both timeouts of a connection with one timer of its own:
//! these check that the deadlines still belong to each request, not to the connection, on
//! 127.0.0.1 and bounded in time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wardgate::portal::{ServeOptions, serve};

const TIMEOUT: Duration = Duration::from_secs(1);
/// How late after its timeout a connection may be closed (a loaded 2-core machine).
const MARGIN: Duration = Duration::from_millis(1500);
/// Shorter than [`TIMEOUT`]; four of them are longer than both timeouts together.
const HANDLER_TIME: Duration = Duration::from_millis(600);

/// Serves a router with a handler that takes `HANDLER_TIME` and one that takes three timeouts.
async fn server() -> (SocketAddr, oneshot::Sender<()>) {
    let router = Router::new()
        .route(
            "/steady",
            get(|| async {
                tokio::time::sleep(HANDLER_TIME).await;
                "steady"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(TIMEOUT * 3).await;
                "stuck"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = ServeOptions::new()
        .header_read_timeout(TIMEOUT)
        .request_timeout(TIMEOUT)
        .shutdown_grace(Duration::from_secs(1));
    tokio::spawn(serve(listener, router, options, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Reads one response (its head and a `Content-Length` body); `None` when the connection
/// closed first.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(text);
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_on_a_kept_alive_connection_has_its_own_deadlines() {
    let (addr, stop) = server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    // Four requests one after the other on the same connection: each within the request
    // timeout, all of them together well past both timeouts.
    for i in 0..4 {
        stream
            .write_all(b"GET /steady HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let answer = tokio::time::timeout(TIMEOUT * 5, read_response(&mut stream))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("request {i} found the connection closed"));
        assert!(answer.starts_with("HTTP/1.1 200"), "request {i}: {answer}");
        assert!(answer.ends_with("steady"), "request {i}: {answer}");
    }
    assert!(opened.elapsed() > TIMEOUT * 2);
    // Then idle: the wait for the next request's headers is bounded like any header read.
    let idle = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(TIMEOUT * 5, stream.read_to_end(&mut rest)).await;
    let held = idle.elapsed();
    assert!(
        closed.is_ok(),
        "an idle kept-alive connection was still open after {held:?}"
    );
    assert!(
        held >= TIMEOUT - Duration::from_millis(100),
        "an idle connection was closed after {held:?}, before the header-read timeout"
    );
    assert!(
        held <= TIMEOUT + MARGIN,
        "an idle connection was closed only after {held:?}"
    );
    stop.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_request_timeout_is_408_after_earlier_requests() {
    let (addr, stop) = server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A request answered in time first: the deadline of the next one starts with it.
    stream
        .write_all(b"GET /steady HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut stream).await.unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    stream
        .write_all(b"GET /stuck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    let answer = tokio::time::timeout(TIMEOUT * 5, read_response(&mut stream))
        .await
        .unwrap()
        .unwrap();
    let took = sent.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("The request took too long"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        took >= TIMEOUT - Duration::from_millis(100),
        "answered 408 after {took:?}, before the request timeout"
    );
    assert!(took <= TIMEOUT + MARGIN, "answered 408 only after {took:?}");
    // And the connection is closed after it.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(TIMEOUT * 3, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open after the 408");
    stop.send(()).unwrap();
}
