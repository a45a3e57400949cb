//! A collection DAP lists late in the demo's window with the notice its definition
//! promises: still *coming* when the clock stops, so the pages show it as providers see it.
//! A few trusts try a file for it in a dry run, one of them with the wrong columns; nothing
//! is kept, and DAP sees who is ready.

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::story::{Coming, DAP, Story};
use crate::connectors::Sources;
use crate::domain::Period;
use crate::schedule::trial::{Ask, Tried, dry_run};

/// How many trusts try a file, the last of them with a spreadsheet's own headings.
const TRYING: usize = 4;

impl Story<'_> {
    /// Proposes `slug`, lists it with its notice, and has a few trusts try a file for it.
    pub async fn list_coming(&mut self, slug: &str, at: DateTime<Utc>) -> anyhow::Result<Coming> {
        let def = self.load(slug)?;
        self.registry.propose(&def, "NHS England", at).await?;
        let l = self
            .registry
            .approve(
                slug,
                DAP,
                "Fits under the budget now the manual forms are retired; providers get the notice its definition promises.",
                Vec::new(),
                at,
            )
            .await?;
        let from = l.effective_from.format("%-d %B %Y");
        self.say(
            at,
            format!(
                "{slug} listed as {} with {} days' notice: owed from {from}; until then the trusts see it as coming, with its template.",
                l.licence_number, def.def.notice_days
            ),
        );
        let asked: Vec<String> = self
            .registry
            .providers()
            .await?
            .iter()
            .filter(|p| {
                def.def.respondents.kinds.contains(&p.kind)
                    && p.closed_on.is_none_or(|c| c > l.effective_from)
            })
            .map(|p| p.code.to_string())
            .collect();
        let today = at.with_timezone(&self.timezone).date_naive();
        let last = Period::containing(def.def.frequency.period, today).previous();
        let snapshot = last.end() - chrono::Duration::days(1);
        let dir = tempfile::Builder::new()
            .prefix("tally-demo-trial-")
            .tempdir()?;
        let (mut passed, mut failed) = (0, 0);
        let trying = asked.len().min(TRYING);
        for (n, code) in asked.iter().take(trying).enumerate() {
            let file = dir.path().join(format!("{code}.csv"));
            let text = if n + 1 == trying && trying > 1 {
                // Headings as a spreadsheet had them, not the items' names.
                format!("Snapshot date,Capacity,Patients\n{snapshot},40,31\n")
            } else {
                let capacity = 20 + 5 * n;
                format!(
                    "snapshot_date,virtual_ward_capacity,virtual_ward_patients\n{snapshot},{capacity},{}\n",
                    capacity - 3
                )
            };
            std::fs::write(&file, text)?;
            let ask = Ask {
                collection: slug,
                provider: code,
                period: &last.to_string(),
            };
            let tried = Tried::File {
                path: file,
                name: format!("{code}.csv"),
            };
            let t = dry_run(
                self.registry,
                &Sources::default(),
                ask,
                tried,
                &format!("{code} data lead"),
                at,
            )
            .await?;
            if t.passed {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        self.say(
            at,
            format!(
                "Dry runs of {slug} for {last}: {passed} trusts' files would land whole, {failed} would not (its columns are not the items'); nothing was kept and no run recorded."
            ),
        );
        // As DAP sees it on its page.
        let ready = self
            .registry
            .readiness(at)
            .await?
            .into_iter()
            .find(|r| r.collection == slug)
            .context("a collection just listed with notice is coming")?;
        Ok(Coming {
            slug: slug.to_owned(),
            licence: l.licence_number,
            owed_from: l.effective_from,
            providers: ready.providers.len(),
            passed: ready.source_passed + ready.file_passed,
            failed: ready.tried,
        })
    }
}
