//! The load benchmark's baseline: the smallest axum server, one handler answering "ok",
//! measured in the same run as Tally's pages (benches/web.py). Not part of the product.
//!
//! `cargo run --release --features benches --bin trivial-axum -- 127.0.0.1:8081`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".into());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .expect("the address is free");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("bound")
    );
    let app = Router::new().route("/", get(|| async { "ok" }));
    axum::serve(listener, app).await.expect("serving");
}
