//! The SQL behind `Store`, written once for both backends.
//!
//! sqlx checks queries against one database per crate and generic code over `Database`
//! drowns in trait bounds, so the one body is expanded for each concrete pool by a macro.
//! Every statement here is portable: `$n` placeholders, `RETURNING`, `ON CONFLICT`, partial
//! indexes and `COALESCE(MAX(..))` behave the same on SQLite and PostgreSQL.

macro_rules! sql_store {
    ($store:ty, $db:ty, $backend:literal) => {
        impl $store {
            async fn insert_decision(
                tx: &mut sqlx::Transaction<'_, $db>,
                slug: &str,
                version: Option<i64>,
                licence: Option<&str>,
                d: &$crate::store::NewDecision,
            ) -> anyhow::Result<()> {
                sqlx::query(
                    "INSERT INTO decisions
                       (slug, version, action, actor, reason, at, licence_number, findings, overrides)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(slug)
                .bind(version)
                .bind(d.action.as_str())
                .bind(&d.actor)
                .bind(&d.reason)
                .bind(d.at)
                .bind(licence)
                .bind(sqlx::types::Json(&d.findings))
                .bind(sqlx::types::Json(&d.overrides))
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Takes a collection out of force: its listed version and any pending proposal.
            async fn retire_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                slug: &str,
                d: &$crate::store::NewDecision,
            ) -> anyhow::Result<()> {
                let moved = sqlx::query(
                    "UPDATE collections SET status = 'retired'
                     WHERE slug = $1 AND (status = 'listed' OR status = 'suspended')",
                )
                .bind(slug)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Err($crate::domain::RegistryError::Conflict(format!(
                        "{slug} is not listed or suspended, so it cannot be retired"
                    ))
                    .into());
                }
                sqlx::query(
                    "UPDATE collection_versions SET status = 'retired'
                     WHERE slug = $1 AND status = 'listed'",
                )
                .bind(slug)
                .execute(&mut **tx)
                .await?;
                let licence: Option<String> =
                    sqlx::query_scalar("SELECT licence_number FROM collections WHERE slug = $1")
                        .bind(slug)
                        .fetch_one(&mut **tx)
                        .await?;
                Self::insert_decision(tx, slug, None, licence.as_deref(), d).await?;
                Self::withdraw_pending(tx, slug, "the collection was retired", d).await
            }

            /// Withdraws any proposal still awaiting a decision, logging each withdrawal.
            async fn withdraw_pending(
                tx: &mut sqlx::Transaction<'_, $db>,
                slug: &str,
                why: &str,
                d: &$crate::store::NewDecision,
            ) -> anyhow::Result<()> {
                let pending: Vec<i64> = sqlx::query_scalar(
                    "UPDATE collection_versions SET status = 'withdrawn'
                     WHERE slug = $1 AND status = 'proposed' RETURNING version",
                )
                .bind(slug)
                .fetch_all(&mut **tx)
                .await?;
                for version in pending {
                    let withdrawn = $crate::store::NewDecision {
                        action: $crate::domain::Step::Withdraw,
                        reason: why.to_owned(),
                        findings: Vec::new(),
                        overrides: Vec::new(),
                        ..d.clone()
                    };
                    Self::insert_decision(tx, slug, Some(version), None, &withdrawn).await?;
                }
                Ok(())
            }

            /// Takes the register-wide lock by counting one more change, and refuses when
            /// the register changed after `expected` (the revision the checks were run on).
            async fn bump_revision(
                tx: &mut sqlx::Transaction<'_, $db>,
                expected: Option<i64>,
            ) -> anyhow::Result<()> {
                let now: i64 = sqlx::query_scalar(
                    "UPDATE counters SET value = value + 1 WHERE name = 'register' RETURNING value",
                )
                .fetch_one(&mut **tx)
                .await?;
                match expected {
                    Some(seen) if seen != now - 1 => Err($crate::domain::RegistryError::Stale.into()),
                    _ => Ok(()),
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn collection(
                &self,
                slug: &str,
            ) -> anyhow::Result<Option<$crate::store::CollectionRow>> {
                Ok(sqlx::query_as("SELECT * FROM collections WHERE slug = $1")
                    .bind(slug)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn collections(&self) -> anyhow::Result<Vec<$crate::store::CollectionRow>> {
                Ok(sqlx::query_as("SELECT * FROM collections ORDER BY slug")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn versions(&self, slug: &str) -> anyhow::Result<Vec<$crate::store::VersionRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM collection_versions WHERE slug = $1 ORDER BY version",
                )
                .bind(slug)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn every_version(&self) -> anyhow::Result<Vec<$crate::store::VersionRow>> {
                Ok(sqlx::query_as("SELECT * FROM collection_versions ORDER BY slug, version")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn decisions(
                &self,
                slug: Option<&str>,
            ) -> anyhow::Result<Vec<$crate::store::DecisionRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM decisions WHERE ($1 IS NULL OR slug = $1) ORDER BY id",
                )
                .bind(slug)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn add_version(
                &self,
                v: &$crate::store::NewVersion,
                d: &$crate::store::NewDecision,
            ) -> anyhow::Result<i64> {
                let slug = v.definition.slug.as_str();
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO collections (slug, status, created_at) VALUES ($1, 'proposed', $2)
                     ON CONFLICT (slug) DO NOTHING",
                )
                .bind(slug)
                .bind(d.at)
                .execute(&mut *tx)
                .await?;
                // Under the register lock, two proposals at once number their versions one
                // after the other.
                Self::bump_revision(&mut tx, None).await?;
                let version: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM collection_versions WHERE slug = $1",
                )
                .bind(slug)
                .fetch_one(&mut *tx)
                .await?;
                let why = format!("replaced by version {version}");
                Self::withdraw_pending(&mut tx, slug, &why, d).await?;
                sqlx::query(
                    "INSERT INTO collection_versions
                       (slug, version, status, definition, source_toml, sha256, source_file,
                        proposed_by, proposed_at, findings)
                     VALUES ($1, $2, 'proposed', $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(slug)
                .bind(version)
                .bind(sqlx::types::Json(&v.definition))
                .bind(&v.source_toml)
                .bind(&v.sha256)
                .bind(&v.source_file)
                .bind(&d.actor)
                .bind(d.at)
                .bind(sqlx::types::Json(&v.findings))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE collections SET status = 'proposed'
                     WHERE slug = $1 AND (status = 'rejected' OR status = 'retired')",
                )
                .bind(slug)
                .execute(&mut *tx)
                .await?;
                Self::insert_decision(&mut tx, slug, Some(version), None, d).await?;
                tx.commit().await?;
                Ok(version)
            }

            async fn apply(
                &self,
                slug: &str,
                change: &$crate::store::Change,
                d: &$crate::store::NewDecision,
                checked_at: Option<i64>,
            ) -> anyhow::Result<Option<String>> {
                use $crate::domain::RegistryError::Conflict;
                use $crate::store::Change;
                let mut tx = self.pool.begin().await?;
                // Decisions take turns: a second decision waits for the first and then, if it
                // was made on checks of the register before the first, is refused as stale.
                Self::bump_revision(&mut tx, checked_at).await?;
                let current: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT status, licence_number FROM collections WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, mut licence)) = current else {
                    return Err($crate::domain::RegistryError::NotFound(slug.into()).into());
                };
                let expect_pending = |moved: u64, version: i64| {
                    if moved == 1 {
                        Ok(())
                    } else {
                        Err(Conflict(format!(
                            "version {version} of {slug} is no longer awaiting a decision"
                        )))
                    }
                };
                match change {
                    Change::List { version, expires_at, effective_from, retire } => {
                        sqlx::query(
                            "UPDATE collection_versions SET status = 'superseded'
                             WHERE slug = $1 AND status = 'listed'",
                        )
                        .bind(slug)
                        .execute(&mut *tx)
                        .await?;
                        let moved = sqlx::query(
                            "UPDATE collection_versions
                             SET status = 'listed', listed_at = $3, expires_at = $4,
                                 effective_from = $5
                             WHERE slug = $1 AND version = $2 AND status = 'proposed'",
                        )
                        .bind(slug)
                        .bind(version)
                        .bind(d.at)
                        .bind(expires_at)
                        .bind(effective_from)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        expect_pending(moved, *version)?;
                        // A new version of a live licence keeps its number; anything else
                        // gets the next one, so numbers are never reused.
                        let live = status == "listed" || status == "suspended";
                        if !live || licence.is_none() {
                            let n: i64 = sqlx::query_scalar(
                                "UPDATE counters SET value = value + 1 WHERE name = 'licence'
                                 RETURNING value",
                            )
                            .fetch_one(&mut *tx)
                            .await?;
                            sqlx::query(
                                "INSERT INTO licences (number, slug, assigned_at) VALUES ($1, $2, $3)",
                            )
                            .bind(n)
                            .bind(slug)
                            .bind(d.at)
                            .execute(&mut *tx)
                            .await?;
                            licence = Some($crate::store::licence_number(n));
                        }
                        // A new version of a suspended collection comes into force suspended:
                        // only a reinstate decision lets it be collected again.
                        sqlx::query(
                            "UPDATE collections
                             SET status = CASE WHEN status = 'suspended' THEN 'suspended' ELSE 'listed' END,
                                 licence_number = $2
                             WHERE slug = $1",
                        )
                        .bind(slug)
                        .bind(&licence)
                        .execute(&mut *tx)
                        .await?;
                        Self::insert_decision(&mut tx, slug, Some(*version), licence.as_deref(), d)
                            .await?;
                        for (old, decision) in retire {
                            Self::retire_in(&mut tx, old, decision).await?;
                        }
                    }
                    Change::Reject { version } => {
                        let moved = sqlx::query(
                            "UPDATE collection_versions SET status = 'rejected'
                             WHERE slug = $1 AND version = $2 AND status = 'proposed'",
                        )
                        .bind(slug)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        expect_pending(moved, *version)?;
                        sqlx::query(
                            "UPDATE collections SET status = 'rejected'
                             WHERE slug = $1 AND status = 'proposed'",
                        )
                        .bind(slug)
                        .execute(&mut *tx)
                        .await?;
                        Self::insert_decision(&mut tx, slug, Some(*version), licence.as_deref(), d)
                            .await?;
                    }
                    Change::Suspend | Change::Reinstate => {
                        let (from, to) = match change {
                            Change::Suspend => ("listed", "suspended"),
                            _ => ("suspended", "listed"),
                        };
                        let moved = sqlx::query(
                            "UPDATE collections SET status = $3 WHERE slug = $1 AND status = $2",
                        )
                        .bind(slug)
                        .bind(from)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if moved != 1 {
                            return Err(Conflict(format!(
                                "{slug} is {status}, not {from}"
                            ))
                            .into());
                        }
                        Self::insert_decision(&mut tx, slug, None, licence.as_deref(), d).await?;
                    }
                    Change::Retire => Self::retire_in(&mut tx, slug, d).await?,
                }
                tx.commit().await?;
                Ok(licence)
            }

            async fn import_providers(
                &self,
                providers: &[$crate::domain::provider::Provider],
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                let mut tx = self.pool.begin().await?;
                for p in providers {
                    sqlx::query(
                        "INSERT INTO providers
                           (code, name, kind, region, icb, local_authority, opened_on, closed_on,
                            successor, registered_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (code) DO UPDATE SET
                           name = excluded.name, kind = excluded.kind, region = excluded.region,
                           icb = excluded.icb, local_authority = excluded.local_authority,
                           opened_on = excluded.opened_on, closed_on = excluded.closed_on,
                           successor = excluded.successor",
                    )
                    .bind(p.code.as_str())
                    .bind(&p.name)
                    .bind(p.kind.as_str())
                    .bind(&p.region)
                    .bind(&p.icb)
                    .bind(&p.local_authority)
                    .bind(p.opened_on)
                    .bind(p.closed_on)
                    .bind(p.successor.as_ref().map(|s| s.as_str()))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                // The checks count providers (a collection's respondents, so its burden), so
                // an import is a change they could see, like a decision.
                Self::bump_revision(&mut tx, None).await?;
                tx.commit().await?;
                Ok(providers.len() as u64)
            }

            async fn providers(&self) -> anyhow::Result<Vec<$crate::domain::provider::Provider>> {
                let rows: Vec<$crate::store::ProviderRow> =
                    sqlx::query_as("SELECT * FROM providers ORDER BY code")
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(|r| r.into_provider()).collect()
            }

            async fn set_budget(&self, b: &$crate::domain::budget::Budget) -> anyhow::Result<()> {
                let mut tx = self.pool.begin().await?;
                Self::bump_revision(&mut tx, None).await?;
                sqlx::query(
                    "INSERT INTO budget_settings
                       (cap_hours, baseline_hours, baseline_date, goal_hours, target_date,
                        set_by, reason, set_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(b.cap_hours)
                .bind(b.baseline_hours)
                .bind(b.baseline_date)
                .bind(b.goal_hours)
                .bind(b.target_date)
                .bind(&b.set_by)
                .bind(&b.reason)
                .bind(b.set_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revision(&self) -> anyhow::Result<i64> {
                Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'register'")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn revisions(&self) -> anyhow::Result<$crate::store::Revisions> {
                let (register, arrivals) = sqlx::query_as(
                    "SELECT (SELECT value FROM counters WHERE name = 'register'),
                            (SELECT value FROM counters WHERE name = 'arrivals')",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok($crate::store::Revisions { register, arrivals })
            }

            async fn budget(&self) -> anyhow::Result<Option<$crate::domain::budget::Budget>> {
                Ok(sqlx::query_as(
                    "SELECT cap_hours, baseline_hours, baseline_date, goal_hours, target_date,
                            set_by, reason, set_at
                     FROM budget_settings ORDER BY id DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use sql_store;
