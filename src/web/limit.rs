//! Rate limits. Sign-in attempts are limited per client address: a token cannot be guessed
//! (256 random bits), but every refused sign-in is written to the audit log, so a flood of
//! them would fill it and spend the server's time. The client's address is the socket's
//! peer (an IPv6 client by its /64); forwarded headers are not trusted, since any client
//! can write them. Every attempt counts, good or bad, so people who share one address (a
//! trust's network behind one NAT address) share its allowance.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// Sign-ins allowed at once from one address…
pub const SIGN_IN_BURST: u32 = 10;
/// …and then one every this many seconds.
pub const SIGN_IN_EVERY_SECONDS: u64 = 6;

/// The peer's address; requests with none (the tests' in-process router) share one key.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress;

impl KeyExtractor for ClientAddress {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                // One network's /64 is one client: anyone holding one has all its addresses.
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        })
    }
}

/// The layer for the sign-in form's POST. Addresses quiet for a while are forgotten once a
/// minute, so the table does not grow with every address ever seen.
pub fn sign_in() -> tower_governor::GovernorLayer<
    ClientAddress,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
    axum::body::Body,
> {
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .key_extractor(ClientAddress)
        .per_second(SIGN_IN_EVERY_SECONDS)
        .burst_size(SIGN_IN_BURST)
        .finish()
        .expect("a quota above zero");
    let limiter = Arc::downgrade(config.limiter());
    std::thread::Builder::new()
        .name("tally-sign-in-limit".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
                match limiter.upgrade() {
                    Some(l) => l.retain_recent(),
                    None => break,
                }
            }
        })
        .expect("a thread to sweep the sign-in limits");
    tower_governor::GovernorLayer::new(config)
}
