//! Gateway mode's body timeouts, over real sockets: the example's server ([`serve`]) in front
//! of a raw upstream that sends its head and then stalls mid-body, or trickles its body
//! steadily. The stalled response ends within the idle bound with an incomplete body; the
//! steady one arrives whole although it takes longer than the idle bound. The response-head
//! timeout starts once the resident's upload is sent: a steady upload longer than it still
//! reaches the upstream, and an upstream slow to answer after it gets the `504`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use wardgate::portal::upstream::{GateRule, Requirement, Upstream};
use wardgate::portal::{ServeOptions, serve};
use wardgate::store::MemoryStore;

use crate::gateway::{TestGateway, captured_logs, contains};

const IDLE: Duration = Duration::from_secs(1);
const TOTAL: Duration = Duration::from_secs(20);
/// How late a cut-off may come on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(2);

/// Reads a request head from `stream`, so the upstream answers after the request is in.
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
}

/// An upstream on loopback that answers each connection with `answer`.
async fn raw_upstream<F, Fut>(answer: F) -> Url
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    Url::parse(&format!("http://{addr}")).unwrap()
}

/// Sends its head and 100 of the 1000 bytes it announces, then nothing for a minute.
async fn stalls_mid_body(mut stream: TcpStream) {
    read_head(&mut stream).await;
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n";
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&[b'a'; 100]).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// Sends 12 chunks of 100 bytes, one every 250 ms: 3 s in all, never a second without data.
async fn trickles_steadily(mut stream: TcpStream) {
    read_head(&mut stream).await;
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
    let _ = stream.write_all(head.as_bytes()).await;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut chunk = b"64\r\n".to_vec();
        chunk.extend_from_slice(&[b'b'; 100]);
        chunk.extend_from_slice(b"\r\n");
        if stream.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
}

/// The gateway, served on loopback in front of `upstream` with every path public.
async fn gateway_in_front_of(upstream: Url) -> (SocketAddr, TestGateway) {
    serve_in_front_of(public_upstream(upstream)).await
}

fn public_upstream(url: Url) -> Upstream {
    Upstream::new(url)
        .unwrap()
        .rule(GateRule::new("/", Requirement::Public).unwrap())
        .unwrap()
        .body_timeouts(IDLE, TOTAL)
        .unwrap()
}

async fn serve_in_front_of(upstream: Upstream) -> (SocketAddr, TestGateway) {
    let gateway = TestGateway::with_parts(Arc::new(MemoryStore::new()), |parts| {
        parts.with_upstream(upstream)
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        gateway.router.clone(),
        ServeOptions::new(),
        std::future::pending(),
    ));
    (addr, gateway)
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_has_its_response_cut_off_within_the_idle_bound() {
    let logs = captured_logs();
    let (addr, _gateway) = gateway_in_front_of(raw_upstream(stalls_mid_body).await).await;
    let started = Instant::now();
    let response = reqwest::get(format!("http://{addr}/van-ban/quyet-dinh.txt"))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.content_length(), Some(1000));
    let read = tokio::time::timeout(IDLE + MARGIN + MARGIN, response.bytes()).await;
    let took = started.elapsed();
    // The client sees the connection closed before the announced length: an error, never a
    // body it could take for whole.
    let error = read.expect("the response ended").unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert!(took >= IDLE && took < IDLE + MARGIN, "{took:?}");
    let logged = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logged, "direction=\"response\" timeout=\"idle\"")
            || contains(&logged, "direction=response timeout=idle"),
        "the cut-off is logged"
    );
    assert!(
        !contains(&logged, "quyet-dinh"),
        "the path is not in the log line"
    );
}

#[tokio::test]
async fn an_upstream_that_streams_slowly_but_steadily_within_the_idle_bound_is_received_whole() {
    let (addr, _gateway) = gateway_in_front_of(raw_upstream(trickles_steadily).await).await;
    let started = Instant::now();
    let response = reqwest::get(format!("http://{addr}/bao-cao"))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 1200);
    assert!(body.iter().all(|&b| b == b'b'));
    // Longer than the idle bound: only the gaps count.
    assert!(started.elapsed() > IDLE * 2, "{:?}", started.elapsed());
}

/// Reads the request, body and all, and never answers before it is complete.
async fn reads_the_whole_upload(mut stream: TcpStream) {
    read_head(&mut stream).await;
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink).await;
}

#[tokio::test]
async fn an_upload_that_stalls_before_the_upstream_answers_is_cut_off_with_408() {
    let (addr, _gateway) = gateway_in_front_of(raw_upstream(reads_the_whole_upload).await).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    client
        .write_all(
            b"POST /nop-ho-so HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\n\
              content-length: 1000\r\n\r\n",
        )
        .await
        .unwrap();
    client.write_all(&[b'c'; 100]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(IDLE + MARGIN + MARGIN, async {
        let mut buffer = [0u8; 4096];
        loop {
            match client.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if contains(&answer, "</html>") {
                break;
            }
        }
    })
    .await;
    let took = started.elapsed();
    assert!(read.is_ok(), "the gateway answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("Gửi dữ liệu bị gián đoạn"), "{answer}");
    assert!(took >= IDLE && took < IDLE + MARGIN, "{took:?}");
}

/// Reads the head and the 1000 bytes of body announced, then answers at once.
async fn answers_once_the_upload_is_in(mut stream: TcpStream) {
    read_head(&mut stream).await;
    let mut body = [0u8; 1000];
    if stream.read_exact(&mut body).await.is_ok() {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nreceived")
            .await;
    }
    let _ = stream.read_to_end(&mut Vec::new()).await;
}

/// Posts 1000 bytes in 10 pieces, one every 250 ms (2.5 s in all, never a second without
/// data), and returns the answer's first bytes and how long it took to come.
/// Reads the 1000 bytes of the upload, then answers only four seconds later.
async fn answers_four_seconds_after_the_upload(mut stream: TcpStream) {
    read_head(&mut stream).await;
    let mut body = [0u8; 1000];
    if stream.read_exact(&mut body).await.is_ok() {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")
            .await;
    }
    let _ = stream.read_to_end(&mut Vec::new()).await;
}

async fn upload_steadily(addr: SocketAddr) -> (String, Duration) {
    let client = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = client.into_split();
    let started = Instant::now();
    tokio::spawn(async move {
        let head = b"POST /nop-ho-so HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\n\
                     content-length: 1000\r\n\r\n";
        if writer.write_all(head).await.is_err() {
            return;
        }
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if writer.write_all(&[b'd'; 100]).await.is_err() {
                return;
            }
        }
        // Dropping the write half would half-close the connection, which the server takes for
        // a client gone away: keep it open until the answer has been read.
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(writer);
    });
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut answer))
        .await
        .expect("the gateway answered")
        .unwrap();
    (
        String::from_utf8_lossy(&answer[..n]).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn the_response_timeout_starts_once_the_upload_is_sent() {
    // Two seconds for the upstream's head: less than the 2.5 s upload, which the body
    // timeouts bound instead, so the upload reaches the upstream and its answer comes back.
    let prompt = raw_upstream(answers_once_the_upload_is_in).await;
    let short = public_upstream(prompt)
        .timeouts(Duration::from_secs(5), Duration::from_secs(2))
        .unwrap();
    let (addr, _gateway) = serve_in_front_of(short).await;
    let (answer, took) = upload_steadily(addr).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(took >= Duration::from_millis(2500), "{took:?}");

    // An upstream that takes the whole upload and then keeps the resident waiting gets its two
    // seconds from the end of the upload, then the resident gets the 504 page.
    let slow = raw_upstream(answers_four_seconds_after_the_upload).await;
    let short = public_upstream(slow)
        .timeouts(Duration::from_secs(5), Duration::from_secs(2))
        .unwrap();
    let (addr, _gateway) = serve_in_front_of(short).await;
    let (answer, took) = upload_steadily(addr).await;
    assert!(answer.starts_with("HTTP/1.1 504 "), "{answer}");
    let bound = Duration::from_millis(2500) + Duration::from_secs(2);
    assert!(took >= bound && took < bound + MARGIN, "{took:?}");
}
