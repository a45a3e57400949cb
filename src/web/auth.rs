//! Who is asking, and what they may do.
//!
//! A token reads `tly_<id>_<secret>`: the id finds the stored row, and the SHA-256 of the
//! secret is compared with the stored one in constant time. 256 random bits need no slow
//! hash: nobody can guess them, and SHA-256 costs microseconds where argon2 would cost tens
//! of milliseconds on every API call. The API takes a token as `Authorization: Bearer`; the
//! pages take it once on the sign-in form and keep a session cookie instead.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::AuditOutcome;
use crate::store::access::{NewAudit, Role, TokenRow};
use crate::web::app::App;
use crate::web::error::ApiError;

/// The cookie a signed-in browser holds.
pub const SESSION_COOKIE: &str = "tally_session";
/// The cookie the sign-in form is checked against, before there is a session.
pub const SIGN_IN_COOKIE: &str = "tally_sign_in";
/// How long a browser stays signed in.
pub const SESSION_HOURS: i64 = 12;

/// Someone the service knows, by the token they presented.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// The provider codes a provider token speaks for; empty for every other role.
    pub providers: Vec<String>,
    /// The ICB an ICS token reads the returns of; none for every other role.
    pub icb: Option<String>,
}

/// What a request may ask for. `web::auth::Principal::may` is the role matrix, in one place.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Read the register, collections, the burden totals and the progress report.
    Read,
    /// Run the creep checks on a definition, or propose one.
    Propose,
    /// List, reject, suspend, reinstate or retire a collection; set the budget.
    Decide,
    /// See the provider register and every provider's obligations.
    ListProviders,
    /// See one provider's runs, reports, obligations and burden.
    SeeProvider(&'a str),
    /// See every provider's runs and burden at once.
    EveryProvider,
    /// Upload a period by hand for one provider.
    Upload(&'a str),
    /// Read and download the national returns.
    Returns,
    /// Read the audit log.
    Audit,
    /// Issue and revoke tokens.
    Tokens,
}

impl Principal {
    fn from_row(row: &TokenRow) -> anyhow::Result<Principal> {
        let role = Role::parse(&row.role).map_err(anyhow::Error::msg)?;
        // The token's scope column holds a provider token's codes, or an ICS token's ICB.
        let (providers, icb) = match role {
            Role::Ics => (Vec::new(), Some(row.providers.clone())),
            _ => (
                row.providers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None,
            ),
        };
        Ok(Principal {
            token_id: row.id.clone(),
            name: row.name.clone(),
            role,
            providers,
            icb,
        })
    }

    /// The ICB an ICS token is scoped to: its rows of the returns are all it reads.
    pub fn icb(&self) -> Option<&str> {
        self.icb.as_deref()
    }

    /// The role matrix.
    pub fn may(&self, action: Action) -> bool {
        use Role::*;
        match action {
            Action::Read => true,
            Action::Propose | Action::Decide => self.role == Dap,
            Action::ListProviders => matches!(self.role, Dap | Dhsc | Admin),
            Action::SeeProvider(code) => match self.role {
                Dap | Admin => true,
                Provider => self.providers.iter().any(|p| p == code),
                Dhsc | Ics => false,
            },
            Action::EveryProvider => matches!(self.role, Dap | Admin),
            Action::Upload(code) => {
                self.role == Provider && self.providers.iter().any(|p| p == code)
            }
            Action::Returns => matches!(self.role, Dap | Dhsc | Ics | Admin),
            Action::Audit => matches!(self.role, Dap | Admin),
            Action::Tokens => self.role == Admin,
        }
    }

    /// `Ok` when the matrix allows `action`, else a 403 that says why.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.may(action) {
            return Ok(());
        }
        let what = match action {
            Action::Read => "read the register",
            Action::Propose => "propose collections or run the checks",
            Action::Decide => "decide on collections or set the budget",
            Action::ListProviders => "list every provider",
            Action::SeeProvider(code) => {
                return Err(ApiError::Forbidden(format!(
                    "this {} token does not speak for provider {code}",
                    self.role
                )));
            }
            Action::Upload(code) => {
                return Err(ApiError::Forbidden(format!(
                    "only a provider token for {code} may act for it: upload, confirm or sign off its data"
                )));
            }
            Action::EveryProvider => "see every provider's runs",
            Action::Returns => "read or download national returns",
            Action::Audit => "read the audit log",
            Action::Tokens => "issue or revoke tokens",
        };
        Err(ApiError::Forbidden(format!(
            "a {} token may not {what}",
            self.role
        )))
    }

    /// How the audit log names this caller.
    pub fn audit(
        &self,
        action: &str,
        target: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) -> NewAudit {
        NewAudit {
            at: Utc::now(),
            actor: self.name.clone(),
            role: self.role.to_string(),
            action: action.into(),
            target: crate::store::access::storable(target),
            outcome,
            detail: crate::store::access::storable(detail),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system gives random bytes");
    hex::encode(buf)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A new token: the row to store and the whole token, to be shown once.
pub fn issue(
    role: Role,
    providers: &[String],
    name: &str,
    created_by: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<(TokenRow, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) || name.len() > 120 {
        anyhow::bail!("a token needs a name: plain text on one line, at most 120 characters");
    }
    match (role, providers.len()) {
        (Role::Provider, 0) => {
            anyhow::bail!("a provider token needs the code of at least one provider")
        }
        (Role::Provider, _) => {
            for code in providers {
                crate::domain::provider::ProviderCode::parse(code).map_err(anyhow::Error::msg)?;
            }
        }
        (Role::Ics, 1) => {
            let icb = &providers[0];
            if icb.trim().is_empty()
                || icb.len() > 120
                || icb.contains(',')
                || icb.chars().any(char::is_control)
            {
                anyhow::bail!("an ICS token's ICB is plain text on one line, without commas");
            }
        }
        (Role::Ics, _) => anyhow::bail!("an ICS token is scoped to exactly one ICB"),
        (_, 0) => {}
        (_, _) => anyhow::bail!("only a provider or ICS token is scoped"),
    }
    let (id, secret) = (random_hex(6), random_hex(32));
    let row = TokenRow {
        id: id.clone(),
        name: name.into(),
        role: role.to_string(),
        providers: providers.join(","),
        secret_sha256: sha256_hex(&secret),
        created_by: created_by.into(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    Ok((row, format!("tly_{id}_{secret}")))
}

/// Issues a token and stores it. Its provider codes must be in the provider register. Only
/// the SHA-256 of the secret is kept: the token returned is to be shown once.
pub async fn create(
    store: &dyn crate::store::Store,
    role: Role,
    providers: &[String],
    name: &str,
    created_by: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> anyhow::Result<(TokenRow, String)> {
    let known = store.providers().await?;
    if role == Role::Ics {
        // An ICS is scoped to an ICB some provider on the register belongs to.
        for icb in providers {
            if !known.iter().any(|p| p.icb.as_deref() == Some(icb.as_str())) {
                anyhow::bail!("no provider in the provider register belongs to the ICB {icb}");
            }
        }
    } else {
        for code in providers {
            if !known.iter().any(|p| p.code.as_str() == code) {
                anyhow::bail!("there is no provider {code} in the provider register");
            }
        }
    }
    let (row, token) = issue(role, providers, name, created_by, expires_at, now)?;
    store.add_token(&row).await?;
    Ok((row, token))
}

/// Why a presented token is not accepted. The token itself is never in the message.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("that is not a Tally token")]
    Malformed,
    #[error("that token is not known")]
    Unknown,
    #[error("that token has been revoked")]
    Revoked,
    #[error("that token has expired")]
    Expired,
}

/// Finds who a presented token belongs to.
pub async fn verify(
    app: &App,
    presented: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<Principal, TokenError>> {
    let Some((id, secret)) = presented
        .trim()
        .strip_prefix("tly_")
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| {
            id.len() == 12
                && secret.len() == 64
                && id
                    .bytes()
                    .chain(secret.bytes())
                    .all(|b| b.is_ascii_hexdigit())
        })
    else {
        return Ok(Err(TokenError::Malformed));
    };
    let Some(row) = app.store().token(id).await? else {
        return Ok(Err(TokenError::Unknown));
    };
    let matches: bool = sha256_hex(secret)
        .as_bytes()
        .ct_eq(row.secret_sha256.as_bytes())
        .into();
    if !matches {
        return Ok(Err(TokenError::Unknown));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(TokenError::Revoked));
    }
    if row.expires_at.is_some_and(|e| e <= now) {
        return Ok(Err(TokenError::Expired));
    }
    Principal::from_row(&row).map(Ok)
}

/// A new session for a verified principal: the cookie value, and its CSRF token.
pub async fn start_session(
    app: &App,
    who: &Principal,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let secret = random_hex(32);
    app.store()
        .add_session(
            &sha256_hex(&secret),
            &who.token_id,
            now,
            now + Duration::hours(SESSION_HOURS),
        )
        .await?;
    Ok(secret)
}

/// The CSRF token for forms in a session: derived from the session's secret, so nothing
/// more is stored, and useless to anyone who cannot read the cookie.
pub fn csrf_for(session: &str) -> String {
    sha256_hex(&format!("tally-csrf:{session}"))
}

/// Compares a form's CSRF field with the one expected, in constant time.
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

pub async fn end_session(app: &App, session: &str) -> anyhow::Result<()> {
    app.store().end_session(&sha256_hex(session)).await
}

/// A fresh random value for the sign-in form's double-submitted cookie.
pub fn sign_in_nonce() -> String {
    random_hex(16)
}

/// The value of one cookie in a request.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the session: HttpOnly, SameSite=Strict, and Secure behind TLS.
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// An API caller: the bearer token is required and must be live.
pub struct Bearer(pub Principal);

impl FromRequestParts<Arc<App>> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(
                "this needs a token: send Authorization: Bearer <token> (tally token create makes one)".into(),
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must read Bearer <token>".into())
            })?;
        match verify(app, presented, Utc::now()).await? {
            Ok(who) => Ok(Bearer(who)),
            Err(why) => {
                let client = crate::web::limit::client(&parts.extensions);
                if app.refusals.check_key(&client).is_err() {
                    return Err(ApiError::TooManyRequests(format!(
                        "too many refused tokens from this address; wait {} seconds and send a live token",
                        crate::web::limit::REFUSAL_EVERY_SECONDS
                    )));
                }
                let _ = app
                    .store()
                    .audit(&NewAudit::anonymous(
                        "authenticate",
                        parts.uri.path(),
                        &why.to_string(),
                    ))
                    .await;
                Err(ApiError::Unauthorized(why.to_string()))
            }
        }
    }
}

/// A page visitor: signed in through a session cookie, or not.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub who: Option<Principal>,
    /// The session's secret (the cookie's value), when signed in.
    pub session: Option<String>,
}

impl Visitor {
    pub fn csrf(&self) -> String {
        self.session.as_deref().map(csrf_for).unwrap_or_default()
    }
}

impl FromRequestParts<Arc<App>> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE).filter(|s| s.len() == 64) else {
            return Ok(Visitor::default());
        };
        let Some(row) = app
            .store()
            .session(&sha256_hex(session), Utc::now())
            .await?
        else {
            return Ok(Visitor::default());
        };
        // A token revoked or expired since sign-in ends its sessions at once.
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Ok(Visitor::default());
        }
        Ok(Visitor {
            who: Some(Principal::from_row(&row)?),
            session: Some(session.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, providers: &[&str]) -> Principal {
        Principal {
            token_id: "t".into(),
            name: "n".into(),
            role,
            providers: providers.iter().map(|s| s.to_string()).collect(),
            icb: None,
        }
    }

    #[test]
    fn a_provider_sees_only_its_own() {
        let p = who(Role::Provider, &["RXA"]);
        assert!(p.may(Action::SeeProvider("RXA")));
        assert!(!p.may(Action::SeeProvider("RXB")));
        assert!(p.may(Action::Upload("RXA")));
        assert!(!p.may(Action::Upload("RXB")));
        assert!(!p.may(Action::Returns));
        assert!(!p.may(Action::Decide));
        assert!(!who(Role::Dhsc, &[]).may(Action::Decide));
        assert!(!who(Role::Dap, &[]).may(Action::Upload("RXA")));
        assert!(who(Role::Dap, &[]).may(Action::Decide));
    }

    #[test]
    fn tokens_are_issued_with_a_role_that_fits() {
        let now = Utc::now();
        let (row, token) = issue(
            Role::Provider,
            &["RXA".into()],
            "Ward clerk",
            "admin",
            None,
            now,
        )
        .unwrap();
        assert!(token.starts_with(&format!("tly_{}_", row.id)));
        assert_eq!(token.len(), 4 + 12 + 1 + 64);
        assert!(!row.secret_sha256.is_empty() && !token.contains(&row.secret_sha256));
        assert!(issue(Role::Provider, &[], "x", "a", None, now).is_err());
        assert!(issue(Role::Dhsc, &["RXA".into()], "x", "a", None, now).is_err());
        assert!(issue(Role::Dhsc, &[], "bad\nname", "a", None, now).is_err());
        assert!(issue(Role::Provider, &["../x".into()], "x", "a", None, now).is_err());
    }

    #[test]
    fn csrf_compares_whole_values() {
        let t = csrf_for("abc");
        assert!(csrf_matches(&t, &t));
        assert!(!csrf_matches(&t, &t[..10]));
        assert!(!csrf_matches(&t, ""));
    }
}
