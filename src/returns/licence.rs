//! National returns are licensed like collections (DESIGN.md's derivable rule: "license a
//! query instead"). Each text of `queries/<name>.sql` with its sidecar is a version of that
//! return, proposed when the service first reads it; DAP lists it, having seen it build
//! over the last period of the collections it reads; and the scheduled builder builds only
//! the versions in force, from the text the register keeps. A changed file is a new
//! proposal, and the version in force is built meanwhile.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::catalogue::{Catalogue, QueryLicence, ReturnDef};
use crate::domain::RegistryError;
use crate::registry::Registry;
use crate::store::queries::QueryVersion;

/// Who proposes what the service reads from its queries folder.
pub const FROM_FOLDER: &str = "the queries folder";

/// The fingerprint of one text of a return: its sidecar and its SQL.
pub fn fingerprint(def: &ReturnDef) -> String {
    let mut h = Sha256::new();
    h.update(def.sidecar.as_bytes());
    h.update([0]);
    h.update(def.sql.as_bytes());
    hex::encode(h.finalize())
}

/// Proposes each return of `catalogue` whose text the register has not seen. Returns the
/// (name, version) of each proposal made.
pub async fn register(
    registry: &Registry,
    catalogue: &Catalogue,
    at: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64)>> {
    let store = registry.store();
    let known = store.query_versions(None).await?;
    let mut proposed = Vec::new();
    for def in catalogue.returns.values() {
        let sha = fingerprint(def);
        if known.iter().any(|v| v.name == def.name && v.sha256 == sha) {
            continue;
        }
        let version = store
            .propose_query(&def.name, &def.sql, &def.sidecar, &sha, FROM_FOLDER, at)
            .await?;
        tracing::info!(name = %def.name, version, "A return's query is new or changed: proposed for DAP to list.");
        proposed.push((def.name.clone(), version));
    }
    Ok(proposed)
}

/// Each return's versions: the one in force, and the one awaiting a decision.
#[derive(Debug, Clone, Default)]
pub struct Licences {
    pub in_force: BTreeMap<String, QueryVersion>,
    pub pending: BTreeMap<String, QueryVersion>,
}

pub async fn licences(registry: &Registry) -> anyhow::Result<Licences> {
    let mut out = Licences::default();
    for v in registry.store().query_versions(None).await? {
        match v.status.as_str() {
            "listed" => {
                out.in_force.insert(v.name.clone(), v);
            }
            "proposed" => {
                out.pending.insert(v.name.clone(), v);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A stored version as a return the builder can run.
pub fn def_of(v: &QueryVersion) -> anyhow::Result<ReturnDef> {
    let mut def = ReturnDef::parse(
        &v.name,
        &v.sidecar,
        v.sql_text.clone(),
        format!("{}.sql (version {})", v.name, v.version).into(),
    )?;
    def.licence = v
        .licence_number
        .clone()
        .filter(|_| v.status == "listed")
        .map(|number| QueryLicence {
            number,
            version: v.version,
        });
    Ok(def)
}

/// The returns in force: what the scheduled builder builds. A return with no listed
/// version is not in it.
pub async fn licensed(registry: &Registry) -> anyhow::Result<Catalogue> {
    let mut returns = BTreeMap::new();
    for (name, v) in licences(registry).await?.in_force {
        returns.insert(name, def_of(&v)?);
    }
    Ok(Catalogue { returns })
}

/// Lists or rejects the version of `name` awaiting a decision, with a reason. Returns the
/// licence number when listed.
pub async fn decide(
    registry: &Registry,
    name: &str,
    version: i64,
    list: bool,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().any(char::is_control) {
        return Err(RegistryError::Refused(
            "a reason is required, as plain text on one line".into(),
        )
        .into());
    }
    match registry
        .store()
        .decide_query(name, version, list, by, reason, at)
        .await?
    {
        Some(licence) => Ok(licence),
        None => Err(RegistryError::Conflict(format!(
            "version {version} of the return {name} is not awaiting a decision"
        ))
        .into()),
    }
}
