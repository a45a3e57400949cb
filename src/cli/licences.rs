//! `tally returns licences|approve|reject`: DAP licenses the national returns' queries. A
//! return's query is built on the timetable only once DAP has listed its text; a changed
//! `queries/<name>.sql` (or sidecar) is proposed as a new version and waits for DAP.

use chrono::Utc;

use super::{Outcome, print_json};
use crate::config::Settings;
use crate::returns::Catalogue;
use crate::returns::licence::{decide, licences, register};

/// Proposes what the queries folder holds that the register has not seen.
async fn read_folder(settings: &Settings) -> anyhow::Result<crate::registry::Registry> {
    let registry = super::open(settings).await?;
    let catalogue = Catalogue::load(&settings.queries_dir)?;
    for (name, version) in register(&registry, &catalogue, Utc::now()).await? {
        eprintln!("Proposed version {version} of {name}, read from the queries folder.");
    }
    Ok(registry)
}

/// `tally returns licences`: each return's version in force and any awaiting DAP.
pub async fn list(settings: &Settings, json: bool) -> anyhow::Result<Outcome> {
    let registry = read_folder(settings).await?;
    let l = licences(&registry).await?;
    if json {
        let all: Vec<_> = l.in_force.values().chain(l.pending.values()).collect();
        return print_json(&all).map(|_| Outcome::Done);
    }
    let names: std::collections::BTreeSet<&String> =
        l.in_force.keys().chain(l.pending.keys()).collect();
    for name in names {
        let listed = l.in_force.get(name).map_or("not licensed".to_owned(), |v| {
            format!(
                "{} version {} in force",
                v.licence_number.as_deref().unwrap_or("?"),
                v.version
            )
        });
        let pending = l
            .pending
            .get(name)
            .map(|v| format!("; version {} awaits DAP", v.version))
            .unwrap_or_default();
        println!("{name}: {listed}{pending}");
    }
    Ok(Outcome::Done)
}

/// `tally returns approve|reject <name>`: DAP's decision on the version awaiting one.
pub async fn decide_one(
    settings: &Settings,
    name: &str,
    list: bool,
    by: &str,
    reason: &str,
) -> anyhow::Result<Outcome> {
    let registry = read_folder(settings).await?;
    let l = licences(&registry).await?;
    let Some(pending) = l.pending.get(name) else {
        anyhow::bail!(
            "no version of the return {name} awaits a decision (tally returns licences shows them)"
        );
    };
    let by = by.trim();
    if by.is_empty() {
        anyhow::bail!("--by: the name of the DAP member deciding is required");
    }
    let licence = decide(
        &registry,
        name,
        pending.version,
        list,
        by,
        reason,
        Utc::now(),
    )
    .await?;
    match licence {
        Some(n) => println!(
            "Listed version {} of {name} as {n}: the scheduled builder builds it from now on.",
            pending.version
        ),
        None => println!("Rejected version {} of {name}.", pending.version),
    }
    Ok(Outcome::Done)
}
