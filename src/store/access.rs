//! Who may use the web pages and the API: tokens (kept only as the SHA-256 of their secret),
//! the sessions a browser signs in to with one, and the append-only audit log of what was
//! done and refused through them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::domain::{AuditOutcome, Invalid};

/// What a token may do. The role matrix itself lives in `web::auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The Data Alliance Partnership: decides on collections and sets the budget.
    Dap,
    /// A provider, scoped to its own provider codes.
    Provider,
    /// DHSC analysts: read and download the national returns.
    Dhsc,
    /// An integrated care system: reads the national returns' rows of its own ICB's
    /// providers, and its ICB's own rows.
    Ics,
    /// Runs the service: providers and tokens, and reads everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dap => "dap",
            Role::Provider => "provider",
            Role::Dhsc => "dhsc",
            Role::Ics => "ics",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, Invalid> {
        match s {
            "dap" => Ok(Role::Dap),
            "provider" => Ok(Role::Provider),
            "dhsc" => Ok(Role::Dhsc),
            "ics" => Ok(Role::Ics),
            "admin" => Ok(Role::Admin),
            other => Err(Invalid::new(
                "role",
                format!("unknown role \"{other}\": expected dap, provider, dhsc, ics or admin"),
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as stored: never its secret.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Comma-separated provider codes for a `provider` token; the ICB for an `ics` token;
    /// empty otherwise.
    pub providers: String,
    #[serde(skip)]
    pub secret_sha256: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One line of the audit log.
#[derive(Debug, Clone, FromRow, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The token's name, or `anonymous`.
    pub actor: String,
    pub role: String,
    /// What was asked: `decide`, `upload`, `download`, `sign_in`, `token_create`, ….
    pub action: String,
    /// What it was asked of: a collection, a return and period, a provider.
    pub target: String,
    /// `done`, `refused`, or for an upload `rejected` or `failed`.
    #[sqlx(try_from = "String")]
    pub outcome: AuditOutcome,
    pub detail: String,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub outcome: AuditOutcome,
    pub detail: String,
}

impl NewAudit {
    /// A refusal of someone who showed no valid token.
    pub fn anonymous(action: &str, target: &str, detail: &str) -> NewAudit {
        NewAudit {
            at: chrono::Utc::now(),
            actor: "anonymous".into(),
            role: String::new(),
            action: action.into(),
            target: storable(&target.chars().take(200).collect::<String>()),
            outcome: AuditOutcome::Refused,
            detail: storable(detail),
        }
    }
}

/// Text from a request as the audit log can keep it: a NUL, which PostgreSQL's text cannot
/// hold, is written as `\0`, so that a hostile path or field is recorded rather than failing
/// the request that refuses it.
pub fn storable(text: &str) -> String {
    text.replace('\0', "\\0")
}

#[async_trait::async_trait]
pub trait Access: Send + Sync {
    async fn add_token(&self, token: &TokenRow) -> anyhow::Result<()>;
    /// Stores many tokens at once: all of them, or none.
    async fn add_tokens(&self, tokens: &[TokenRow]) -> anyhow::Result<()>;
    async fn token(&self, id: &str) -> anyhow::Result<Option<TokenRow>>;
    async fn tokens(&self) -> anyhow::Result<Vec<TokenRow>>;
    /// Revokes a token and ends its sessions; false when there is no such live token.
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> anyhow::Result<bool>;
    async fn add_session(
        &self,
        id_sha256: &str,
        token_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()>;
    /// The token behind a live session.
    async fn session(
        &self,
        id_sha256: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<TokenRow>>;
    async fn end_session(&self, id_sha256: &str) -> anyhow::Result<()>;
    async fn audit(&self, entry: &NewAudit) -> anyhow::Result<()>;
    /// The audit log, newest first.
    async fn audit_log(&self, limit: i64) -> anyhow::Result<Vec<AuditRow>>;
    /// One page of the entries `filter` matches, newest first, and how many match in all.
    async fn audit_search(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<AuditRow>, i64)>;
    /// Every action the log holds, for a filter to choose from.
    async fn audit_actions(&self) -> anyhow::Result<Vec<String>>;
}

/// Which audit entries to show. Empty text and `None` match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Part of the actor's name, in any case.
    pub who: String,
    pub action: String,
    pub outcome: Option<AuditOutcome>,
    pub from: Option<DateTime<Utc>>,
    /// Entries before this moment.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// `who` as a LIKE pattern: lower case, its own `%`, `_` and `\` escaped.
    pub fn who_pattern(&self) -> String {
        let mut p = String::from("%");
        for c in self.who.trim().to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }
}

/// The SQL for `Access`, written once for both backends like `sql_store!`.
macro_rules! access_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::access::Access for $store {
            async fn add_token(&self, t: &$crate::store::access::TokenRow) -> anyhow::Result<()> {
                self.add_tokens(std::slice::from_ref(t)).await
            }

            async fn add_tokens(
                &self,
                tokens: &[$crate::store::access::TokenRow],
            ) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                for t in tokens {
                    sqlx::query(
                        "INSERT INTO api_tokens
                           (id, name, role, providers, secret_sha256, created_by, created_at, expires_at, revoked_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(&t.role)
                    .bind(&t.providers)
                    .bind(&t.secret_sha256)
                    .bind(&t.created_by)
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .bind(t.revoked_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn token(
                &self,
                id: &str,
            ) -> anyhow::Result<Option<$crate::store::access::TokenRow>> {
                Ok(sqlx::query_as("SELECT * FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn tokens(&self) -> anyhow::Result<Vec<$crate::store::access::TokenRow>> {
                Ok(sqlx::query_as("SELECT * FROM api_tokens ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn revoke_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<bool> {
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM web_sessions WHERE token_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn add_session(
                &self,
                id_sha256: &str,
                token_id: &str,
                at: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<()> {
                // Sessions that have run out are cleared as new ones start.
                sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                sqlx::query(
                    "INSERT INTO web_sessions (id_sha256, token_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id_sha256)
                .bind(token_id)
                .bind(at)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                id_sha256: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<Option<$crate::store::access::TokenRow>> {
                Ok(sqlx::query_as(
                    "SELECT t.* FROM web_sessions s JOIN api_tokens t ON t.id = s.token_id
                     WHERE s.id_sha256 = $1 AND s.expires_at > $2",
                )
                .bind(id_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn end_session(&self, id_sha256: &str) -> anyhow::Result<()> {
                sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = $1")
                    .bind(id_sha256)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn audit(&self, e: &$crate::store::access::NewAudit) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, role, action, target, outcome, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.role)
                .bind(&e.action)
                .bind(&e.target)
                .bind(e.outcome.as_str())
                .bind(&e.detail)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn audit_log(
                &self,
                limit: i64,
            ) -> anyhow::Result<Vec<$crate::store::access::AuditRow>> {
                Ok(
                    sqlx::query_as("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn audit_search(
                &self,
                f: &$crate::store::access::AuditFilter,
                offset: i64,
                limit: i64,
            ) -> anyhow::Result<(Vec<$crate::store::access::AuditRow>, i64)> {
                let outcome = f.outcome.map(|o| o.as_str()).unwrap_or_default();
                // The same WHERE in both queries, over $1 to $5.
                let rows = sqlx::query_as(
                    "SELECT * FROM audit_log WHERE LOWER(actor) LIKE $1 ESCAPE '\\' \
                       AND ($2 = '' OR action = $2) AND ($3 = '' OR outcome = $3) \
                       AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
                     ORDER BY id DESC LIMIT $6 OFFSET $7",
                )
                .bind(f.who_pattern())
                .bind(&f.action)
                .bind(outcome)
                .bind(f.from)
                .bind(f.until)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let (total,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM audit_log WHERE LOWER(actor) LIKE $1 ESCAPE '\\' \
                       AND ($2 = '' OR action = $2) AND ($3 = '' OR outcome = $3) \
                       AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5)",
                )
                        .bind(f.who_pattern())
                        .bind(&f.action)
                        .bind(outcome)
                        .bind(f.from)
                        .bind(f.until)
                        .fetch_one(&self.pool)
                        .await?;
                Ok((rows, total))
            }

            async fn audit_actions(&self) -> anyhow::Result<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT DISTINCT action FROM audit_log ORDER BY action")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(|(a,)| a).collect())
            }
        }
    };
}

pub(crate) use access_store;
