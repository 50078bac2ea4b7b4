//! The client against canned answers: what a proxy in between, or a server of another
//! version, may say, which the real sidecar (psqlqueue-http's tests/api/client.rs) never does.

use psqlqueue_client::{Client, Error, ListOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server that answers one request with `response` (a whole HTTP/1.1 response) and returns
/// the request's head; and a client of it.
async fn serve_once(response: &'static str) -> (Client, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut buf = [0; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.expect("read");
            assert!(n > 0, "request cut short");
            head.extend_from_slice(&buf[..n]);
        }
        socket.write_all(response.as_bytes()).await.expect("write");
        socket.shutdown().await.expect("shutdown");
        String::from_utf8_lossy(&head).into_owned()
    });
    (Client::new(&base).expect("client"), server)
}

#[tokio::test]
async fn a_proxy_error_page_is_an_api_error_without_a_code() {
    let (client, server) = serve_once(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 24\r\n\r\n<h1>502 Bad Gateway</h1>",
    )
    .await;
    let error = client.get_queue("q").await.expect_err("a 502");
    match &error {
        Error::Api {
            status: 502,
            code: None,
            message,
            details: None,
        } => assert_eq!(message, "<h1>502 Bad Gateway</h1>"),
        other => panic!("not the proxy's error: {other:?}"),
    }
    assert_eq!(error.status(), Some(502));
    assert!(!error.is_retryable() && !error.is_not_found());
    let head = server.await.expect("join");
    assert!(head.starts_with("GET /v1/queues/q HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn a_success_body_that_is_not_the_apis_is_a_decode_error() {
    let (client, server) = serve_once(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"data\": \"no\"}\n",
    )
    .await;
    let error = client
        .list_queues(&ListOptions::new().offset(5).limit(2))
        .await
        .expect_err("not a page");
    match &error {
        Error::Decode {
            status: 200, body, ..
        } => assert_eq!(body, "{\"data\": \"no\"}\n"),
        other => panic!("not a decode error: {other:?}"),
    }
    assert!(std::error::Error::source(&error).is_some());
    let head = server.await.expect("join");
    assert!(
        head.starts_with("GET /v1/queues?offset=5&limit=2 HTTP/1.1\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn no_server_is_a_retryable_transport_error() {
    // A port just freed: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let client = Client::new(&format!("http://{address}")).expect("client");
    let error = client.health().await.expect_err("no server");
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(error.is_retryable() && error.status().is_none());
}
