//! `tally token`: tokens for the web pages and the API.

use chrono::{Duration, Utc};
use clap::Subcommand;

use super::{Outcome, print_json};
use crate::config::Settings;
use crate::domain::AuditOutcome;
use crate::store::access::Role;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it once; only its hash is kept.
    Create {
        /// dap, provider, dhsc, ics or admin.
        #[arg(long)]
        role: String,
        /// For a provider token: the provider it speaks for (repeat for several).
        #[arg(long)]
        provider: Vec<String>,
        /// For an ics token: the ICB whose providers' rows of the returns it reads, as the
        /// provider register names it.
        #[arg(long)]
        icb: Option<String>,
        /// Whose token it is, as the audit log will name them.
        #[arg(long)]
        name: String,
        /// Make it expire after this many days (1 to 3650).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
        /// Who makes it (default: TALLY_ACTOR).
        #[arg(long, env = "TALLY_ACTOR")]
        by: Option<String>,
    },
    /// Every token: id, name, role, providers, when made, expiry, revocation. Never a secret.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once, ending its sessions.
    Revoke {
        /// The token's id (the part after tly_, before the second _).
        id: String,
    },
}

/// `tally token …`.
pub async fn run(settings: &Settings, command: TokenCommand) -> anyhow::Result<Outcome> {
    match command {
        TokenCommand::Create {
            role,
            provider,
            icb,
            name,
            expires_in_days,
            by,
        } => {
            let scope: Vec<String> = provider.into_iter().chain(icb).collect();
            create(
                settings,
                &role,
                &scope,
                &name,
                expires_in_days,
                by.as_deref(),
            )
            .await
        }
        TokenCommand::List { json } => list(settings, json).await,
        TokenCommand::Revoke { id } => revoke(settings, &id).await,
    }
}

/// `tally token create`: prints the token once. Only the SHA-256 of its secret is stored.
pub async fn create(
    settings: &Settings,
    role: &str,
    providers: &[String],
    name: &str,
    expires_in_days: Option<u32>,
    by: Option<&str>,
) -> anyhow::Result<Outcome> {
    let role = Role::parse(role).map_err(anyhow::Error::msg)?;
    let registry = super::open(settings).await?;
    let store = registry.store();
    let now = Utc::now();
    let expires = expires_in_days.map(|d| now + Duration::days(i64::from(d)));
    let by = by
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or("the command line");
    let (row, token) =
        crate::web::auth::create(store.as_ref(), role, providers, name, by, expires, now).await?;
    store
        .audit(&crate::store::access::NewAudit {
            at: now,
            actor: by.into(),
            role: "cli".into(),
            action: "token_create".into(),
            target: row.id.clone(),
            outcome: AuditOutcome::Done,
            detail: format!("{} token for {}", row.role, row.name),
        })
        .await?;
    println!("{token}");
    eprintln!(
        "A {role} token for {} (id {}){}. It is shown only this once: keep it as you would a password.",
        row.name,
        row.id,
        if providers.is_empty() {
            String::new()
        } else {
            format!(", for {}", providers.join(", "))
        }
    );
    Ok(Outcome::Done)
}

pub async fn list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::open_existing(settings).await?;
    let tokens = registry.store().tokens().await?;
    if json {
        print_json(&tokens)?;
        return Ok(Outcome::Done);
    }
    if tokens.is_empty() {
        println!("No tokens yet: tally token create --role dap --name \"…\" makes one.");
    }
    for t in tokens {
        let state = match (t.revoked_at, t.expires_at) {
            (Some(r), _) => format!("revoked {}", r.format("%Y-%m-%d")),
            (None, Some(e)) if e <= Utc::now() => format!("expired {}", e.format("%Y-%m-%d")),
            (None, Some(e)) => format!("live until {}", e.format("%Y-%m-%d")),
            (None, None) => "live".into(),
        };
        let scope = if t.providers.is_empty() {
            String::new()
        } else {
            format!(" for {}", t.providers)
        };
        println!(
            "{}  {:<8} {}{scope}  (made {} by {}; {state})",
            t.id,
            t.role,
            t.name,
            t.created_at.format("%Y-%m-%d"),
            t.created_by
        );
    }
    Ok(Outcome::Done)
}

pub async fn revoke(settings: &Settings, id: &str) -> anyhow::Result<Outcome> {
    let registry = super::open(settings).await?;
    let store = registry.store();
    if !store.revoke_token(id, Utc::now()).await? {
        anyhow::bail!("there is no live token with id {id} (tally token list shows them)");
    }
    store
        .audit(&crate::store::access::NewAudit {
            at: Utc::now(),
            actor: "the command line".into(),
            role: "cli".into(),
            action: "token_revoke".into(),
            target: id.into(),
            outcome: AuditOutcome::Done,
            detail: String::new(),
        })
        .await?;
    println!("Revoked token {id}; its sessions have ended.");
    Ok(Outcome::Done)
}
