//! Graceful shutdown: a request in flight when the signal comes finishes,
//! and new connections are refused afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use civitas::serve::run_server;
use civitas_api::{ApiSettings, app};
use civitas_testkit::{TestDb, demo_tree};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Serves `router` on a free port until the returned sender fires.
async fn serve(
    router: Router,
    grace: Duration,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let server = tokio::spawn(run_server(listener, router, stop, grace));
    (address, stop_tx, server)
}

#[tokio::test]
async fn a_request_in_flight_finishes_after_the_shutdown_signal() {
    let t = TestDb::sqlite().await;
    t.db.sync_tenants(&demo_tree())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // A route that answers only once the test lets it, so that it is
    // certainly in flight when shutdown begins.
    let entered = std::sync::Arc::new(Notify::new());
    let release = std::sync::Arc::new(Notify::new());
    let slow = {
        let (entered, release) = (entered.clone(), release.clone());
        Router::new().route(
            "/slow",
            get(move || async move {
                entered.notify_one();
                release.notified().await;
                "finished"
            }),
        )
    };
    let router = app(t.db.clone(), &ApiSettings::default()).merge(slow);

    let (address, stop_tx, server) = serve(router, Duration::from_secs(30)).await;

    let client = reqwest::Client::new();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.get(format!("http://{address}/slow")).send().await }
    });
    entered.notified().await;

    stop_tx.send(()).unwrap_or_else(|()| panic!("server gone"));
    // Give the server a moment to stop accepting, then check it did.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the request in flight"
    );
    let fresh = reqwest::Client::new()
        .get(format!("http://{address}/healthz"))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "new connections are refused during shutdown"
    );

    release.notify_one();
    let response = in_flight
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap_or_default(), "finished");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server stops once the request is done"
    );
}

#[tokio::test]
async fn the_grace_period_bounds_how_long_shutdown_waits() {
    let t = TestDb::sqlite().await;
    let stuck = Router::new().route("/stuck", get(std::future::pending::<&'static str>));
    let router = app(t.db.clone(), &ApiSettings::default()).merge(stuck);
    let (address, stop_tx, server) = serve(router, Duration::from_millis(300)).await;
    let _stuck = tokio::spawn(async move { reqwest::get(format!("http://{address}/stuck")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(()).unwrap_or_else(|()| panic!("server gone"));
    // Not a timing assertion on the server: the outer timeout only keeps a
    // broken implementation from hanging the suite.
    let stopped = tokio::time::timeout(Duration::from_secs(20), server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the server gives up on a stuck request after the grace period"
    );
}
