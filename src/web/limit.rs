//! Rate limits, per client address. A token cannot be guessed (256 random bits), but every
//! refused sign-in and every refused API token is written to the audit log, so a flood of
//! them would fill it. (A refused API token is still looked up before the limit is asked:
//! the limit keeps the audit log and the service's log small, not the lookups.)
//!
//! - Sign-in attempts: every attempt counts, good or bad, so people who share one address
//!   (a trust's network behind one NAT address) share its allowance.
//! - API tokens: only refused ones count, so a caller with a good token is never slowed;
//!   past the allowance a refused token is answered 429 and not written to the audit log.
//!
//! The client's address is the socket's peer (an IPv6 client by its /64); forwarded headers
//! are not trusted, since any client can write them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ConnectInfo;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// Sign-ins allowed at once from one address…
pub const SIGN_IN_BURST: u32 = 10;
/// …and then one every this many seconds.
pub const SIGN_IN_EVERY_SECONDS: u64 = 6;
/// Refused API tokens answered (and audited) at once from one address…
pub const REFUSALS_BURST: u32 = 20;
/// …and then one every this many seconds.
pub const REFUSAL_EVERY_SECONDS: u64 = 6;

/// Refused API tokens, counted per client address.
pub type Refusals = DefaultKeyedRateLimiter<IpAddr>;

/// The client a request came from: its peer's address, an IPv6 one by its /64. Requests
/// with none (the tests' in-process router) share one key.
pub fn client(extensions: &axum::http::Extensions) -> IpAddr {
    let ip = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            // One network's /64 is one client: anyone holding one has all its addresses.
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// The key extractor for the sign-in layer: [`client`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress;

impl KeyExtractor for ClientAddress {
    type Key = IpAddr;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(client(req.extensions()))
    }
}

/// Forgets addresses quiet for a while, once a minute, so that a limiter's table does not
/// grow with every address ever seen; stops when the limiter is dropped.
fn sweep(name: &str, limiter: Weak<Refusals>) {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(60));
                match limiter.upgrade() {
                    Some(l) => l.retain_recent(),
                    None => break,
                }
            }
        })
        .expect("a thread to sweep a rate limiter");
}

/// The limiter for refused API tokens.
pub fn refusals() -> Arc<Refusals> {
    refusals_allowing(REFUSALS_BURST)
}

/// A limiter for refused API tokens that answers `burst` at once from one address: for a
/// test that refuses many tokens on purpose (schemathesis tries every operation without one).
pub fn refusals_allowing(burst: u32) -> Arc<Refusals> {
    let quota = Quota::with_period(Duration::from_secs(REFUSAL_EVERY_SECONDS))
        .expect("a period above zero")
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("a burst above zero"));
    let limiter = Arc::new(RateLimiter::keyed(quota));
    sweep("tally-token-limit", Arc::downgrade(&limiter));
    limiter
}

/// The layer for the sign-in form's POST.
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
    sweep("tally-sign-in-limit", Arc::downgrade(config.limiter()));
    tower_governor::GovernorLayer::new(config)
}
