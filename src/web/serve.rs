//! Serving the pages and the API over TCP with the limits a public service needs, which
//! `axum::serve` does not set: a client must send its request's head within a time-out
//! (which also closes a kept-alive connection left idle), and the connections held open at
//! once are bounded by the process's open-files limit, so that idle sockets can never take
//! the descriptors that landings, builds and the database need.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long a client may take to send a request's head, and how long a kept-alive
/// connection may wait for its next request, unless the service is told otherwise.
pub const IDLE: Duration = Duration::from_secs(15);

/// Connections held at once, at most, whatever the open-files limit.
const MOST_CONNECTIONS: u64 = 4096;

/// How long shutdown waits for requests under way to finish.
const DRAIN: Duration = Duration::from_secs(20);

/// Connections to hold at once: half of the open-files limit, so the other half stays for
/// the lake, the database and the sources, between 16 and [`MOST_CONNECTIONS`].
pub fn connection_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    let open_files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    };
    (open_files / 2).clamp(16, MOST_CONNECTIONS) as usize
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests under way
/// finish (for a while) before it returns. Each request sees the client's address as
/// `ConnectInfo<SocketAddr>`, as with axum's own `serve`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    idle: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(connection_limit()));
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A place first: past the limit, new clients wait in the listen queue until an
        // idle connection times out, rather than each taking a descriptor.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a client gone before it was accepted: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut closed = closed.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(idle)
                .keep_alive(true);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let closing = async move {
                let _ = closed.wait_for(|c| *c).await;
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = closing => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are reaped as new ones come, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing.send(true);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
