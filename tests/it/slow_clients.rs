//! Slow clients against the server the example gateway runs ([`wardgate::portal::serve`]), on
//! 127.0.0.1 only and bounded in time: slowloris connections that trickle their headers and
//! never finish are closed after the header-read timeout, a request whose body trickles is cut
//! off with `408`, and meanwhile a resident is answered at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wardgate::portal::{ServeOptions, serve};

use crate::gateway::TestGateway;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How late after its timeout a slow connection may be closed (a loaded 2-core machine).
const MARGIN: Duration = Duration::from_millis(1500);
const SLOW_CONNECTIONS: usize = 500;

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    _gateway: TestGateway,
}

async fn server() -> Server {
    let gateway = TestGateway::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = ServeOptions::new()
        .header_read_timeout(HEADER_TIMEOUT)
        .request_timeout(REQUEST_TIMEOUT)
        .shutdown_grace(Duration::from_secs(1));
    let task = tokio::spawn(serve(
        listener,
        gateway.router.clone(),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        stop,
        task,
        _gateway: gateway,
    }
}

/// Writes `head`, then one more header line every 250 ms, never the blank line that ends the
/// headers; returns how long the server kept the connection open (`None`: still open when the
/// test gave up).
async fn trickle_headers(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await;
    let mut buffer = [0u8; 256];
    let mut line = 0u32;
    while opened.elapsed() < give_up {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                // Closed (or answered and closed): either way the slot is free again.
                Ok(0) | Err(_) => return Some(opened.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                line += 1;
                if stream.write_all(format!("X-Slow-{line}: a\r\n").as_bytes()).await.is_err() {
                    return Some(opened.elapsed());
                }
            }
        }
    }
    None
}

/// A resident's request on a fresh connection, timed.
async fn resident(addr: SocketAddr) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_while_a_resident_is_answered() {
    let server = server().await;
    let give_up = HEADER_TIMEOUT * 3;
    let slow: Vec<_> = (0..SLOW_CONNECTIONS)
        .map(|_| tokio::spawn(trickle_headers(server.addr, give_up)))
        .collect();
    // The slow connections are open and trickling; a resident is answered at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let (status, took) = resident(server.addr).await;
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_secs(1),
            "a resident waited {took:?} behind {SLOW_CONNECTIONS} slow connections"
        );
    }
    let mut latest = Duration::ZERO;
    for (i, connection) in slow.into_iter().enumerate() {
        let held = connection.await.unwrap();
        let Some(held) = held else {
            panic!("slow connection {i} was still open after {give_up:?}");
        };
        assert!(
            held >= HEADER_TIMEOUT - Duration::from_millis(100),
            "slow connection {i} closed after {held:?}, before the timeout"
        );
        latest = latest.max(held);
    }
    assert!(
        latest <= HEADER_TIMEOUT + MARGIN,
        "the last slow connection was closed after {latest:?}"
    );
    // Still serving afterwards, and it stops when told.
    assert_eq!(resident(server.addr).await.0, 200);
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_with_408() {
    let server = server().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let opened = Instant::now();
    stream
        .write_all(
            b"POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while opened.elapsed() < REQUEST_TIMEOUT * 3 {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if stream.write_all(b"a").await.is_err() {
                    break;
                }
            }
        }
    }
    let held = opened.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("The request took too long"), "{answer}");
    assert!(
        held <= REQUEST_TIMEOUT + MARGIN,
        "the connection stayed open {held:?}"
    );
    server.stop.send(()).unwrap();
}
