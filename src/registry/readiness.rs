//! Readiness for a coming collection: of the providers that will owe it, which have a
//! source that passed a dry run, which tried a file that passed, which tried and have not
//! passed yet, and which have done nothing, from the readiness checks the dry runs record.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::Registry;
use crate::store::readiness::ReadinessCheck;

/// Where one provider stands, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ready {
    /// Tally read its source and every row would land.
    SourcePassed,
    /// A file it tried would land whole.
    FilePassed,
    /// It tried, and nothing it tried has passed yet.
    Tried,
    /// No dry run at all.
    Nothing,
}

impl Ready {
    pub fn words(self) -> &'static str {
        match self {
            Ready::SourcePassed => "source passed a dry run",
            Ready::FilePassed => "a file passed a dry run",
            Ready::Tried => "tried, not passing yet",
            Ready::Nothing => "nothing tried",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderReadiness {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub ready: Ready,
    /// Its newest dry run, if any.
    pub last: Option<ReadinessCheck>,
}

/// Readiness for one coming collection.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionReadiness {
    pub collection: String,
    pub title: String,
    pub licence_number: String,
    pub effective_from: NaiveDate,
    pub source_passed: usize,
    pub file_passed: usize,
    pub tried: usize,
    pub nothing: usize,
    /// Every provider that will owe it, least ready first.
    pub providers: Vec<ProviderReadiness>,
}

impl Registry {
    /// Readiness for each listed collection whose effective date is still to come.
    pub async fn readiness(&self, at: DateTime<Utc>) -> anyhow::Result<Vec<CollectionReadiness>> {
        let providers = self.providers().await?;
        let mut out = Vec::new();
        for l in self.licensed(at).await? {
            let def = &l.def;
            if l.in_effect_on(at.with_timezone(&def.frequency.timezone).date_naive()) {
                continue;
            }
            let checks = self.store.readiness(def.slug.as_str(), None).await?;
            // Each provider's checks, newest first as the store gives them.
            let mut by_provider: std::collections::HashMap<&str, Vec<&ReadinessCheck>> =
                std::collections::HashMap::new();
            for c in &checks {
                by_provider.entry(c.provider.as_str()).or_default().push(c);
            }
            let mut rows: Vec<ProviderReadiness> = providers
                .iter()
                .filter(|p| {
                    def.respondents.kinds.contains(&p.kind)
                        && p.closed_on.is_none_or(|c| c > l.effective_from)
                })
                .map(|p| {
                    let own: &[&ReadinessCheck] = by_provider
                        .get(p.code.as_str())
                        .map_or(&[], |v| v.as_slice());
                    let ready = if own.iter().any(|c| c.passed && c.tried == "source") {
                        Ready::SourcePassed
                    } else if own.iter().any(|c| c.passed) {
                        Ready::FilePassed
                    } else if own.is_empty() {
                        Ready::Nothing
                    } else {
                        Ready::Tried
                    };
                    ProviderReadiness {
                        code: p.code.to_string(),
                        name: p.name.clone(),
                        kind: p.kind.to_string(),
                        ready,
                        // Newest first, as the store gives them.
                        last: own.first().map(|c| (*c).clone()),
                    }
                })
                .collect();
            rows.sort_by(|a, b| b.ready.cmp(&a.ready).then(a.code.cmp(&b.code)));
            let count = |r: Ready| rows.iter().filter(|p| p.ready == r).count();
            out.push(CollectionReadiness {
                collection: def.slug.to_string(),
                title: def.title.clone(),
                licence_number: l.licence_number.clone(),
                effective_from: l.effective_from,
                source_passed: count(Ready::SourcePassed),
                file_passed: count(Ready::FilePassed),
                tried: count(Ready::Tried),
                nothing: count(Ready::Nothing),
                providers: rows,
            });
        }
        Ok(out)
    }
}
