//! A deterministic synthetic England for the demo: acute and mental-health trusts and care
//! homes across the seven NHS England regions, with their local authorities and ICBs.

use std::path::Path;

use anyhow::Context;

use crate::providers::{Provider, ProviderCode, ProviderKind};

/// splitmix64: small, fast and the same on every machine, which is all the demo needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Region, then its local authorities; each authority's area names an ICB.
const REGIONS: [(&str, &[&str]); 7] = [
    (
        "London",
        &[
            "Camden", "Croydon", "Hackney", "Lambeth", "Barnet", "Ealing",
        ],
    ),
    (
        "South East",
        &["Kent", "Surrey", "Hampshire", "Oxfordshire", "West Sussex"],
    ),
    (
        "South West",
        &[
            "Devon",
            "Cornwall",
            "Somerset",
            "Bristol",
            "Gloucestershire",
        ],
    ),
    (
        "Midlands",
        &[
            "Birmingham",
            "Nottinghamshire",
            "Leicestershire",
            "Staffordshire",
            "Derbyshire",
        ],
    ),
    (
        "East of England",
        &[
            "Norfolk",
            "Suffolk",
            "Essex",
            "Cambridgeshire",
            "Hertfordshire",
        ],
    ),
    (
        "North West",
        &[
            "Manchester",
            "Lancashire",
            "Cheshire East",
            "Liverpool",
            "Cumberland",
        ],
    ),
    (
        "North East and Yorkshire",
        &[
            "Leeds",
            "Sheffield",
            "Newcastle upon Tyne",
            "North Yorkshire",
            "Durham",
        ],
    ),
];

const PLACES: [&str; 24] = [
    "Ashford",
    "Bramley",
    "Castleton",
    "Dunmore",
    "Eastwick",
    "Fairfield",
    "Greystone",
    "Hallam",
    "Ivybridge",
    "Kingsmead",
    "Longford",
    "Marshfield",
    "Northgate",
    "Oakham",
    "Penrith",
    "Queensbury",
    "Riverside",
    "Southmoor",
    "Thornbury",
    "Upton",
    "Westbury",
    "Yarrow",
    "Whitecliff",
    "Elmstead",
];

const HOME_WORDS: [&str; 8] = [
    "House", "Lodge", "Court", "Grange", "Manor", "Gardens", "View", "Hall",
];

/// 140 acute trusts, 50 mental-health trusts and `care_homes` care homes, the same for the
/// same seed. Two acute trusts have merged into a third during the year.
pub fn providers(seed: u64, care_homes: u32) -> Vec<Provider> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let code = |s: String| ProviderCode::parse(&s).expect("generated codes are valid");
    let letters: Vec<char> = ('A'..='Z').collect();
    let trust = |i: usize, kind: ProviderKind, rng: &mut Rng| {
        let (region, las) = REGIONS[i % REGIONS.len()];
        let la = rng.pick(las);
        let place = rng.pick(&PLACES);
        let name = match kind {
            ProviderKind::AcuteTrust => format!("{place} and {la} Hospitals NHS Trust"),
            _ => format!("{place} and {la} Mental Health NHS Foundation Trust"),
        };
        Provider {
            code: code(format!("R{}{}", letters[i / 26 % 26], letters[i % 26])),
            name,
            kind,
            region: region.into(),
            icb: Some(format!("NHS {la} ICB")),
            local_authority: Some(la.into()),
            opened_on: None,
            closed_on: None,
            successor: None,
        }
    };
    for i in 0..140 {
        out.push(trust(i, ProviderKind::AcuteTrust, &mut rng));
    }
    for i in 140..190 {
        out.push(trust(i, ProviderKind::MentalHealthTrust, &mut rng));
    }
    // A merger: the first two acute trusts close into a new one that opens the same day.
    let merged = out[0].clone();
    let merge_day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1);
    let successor = Provider {
        code: code("RZZ".into()),
        name: format!(
            "{} University Hospitals NHS Foundation Trust",
            merged.local_authority.clone().unwrap_or_default()
        ),
        opened_on: merge_day,
        ..merged
    };
    for p in out.iter_mut().take(2) {
        p.closed_on = merge_day;
        p.successor = Some(successor.code.clone());
    }
    out.push(successor);
    for i in 0..care_homes {
        let (region, las) = REGIONS[(rng.next() % REGIONS.len() as u64) as usize];
        let la = rng.pick(las);
        out.push(Provider {
            code: code(format!(
                "1-{:09}",
                100_000_000 + u64::from(i) * 7 + rng.next() % 7
            )),
            name: format!("{} {}", rng.pick(&PLACES), rng.pick(&HOME_WORDS)),
            kind: ProviderKind::CareHome,
            region: region.into(),
            icb: Some(format!("NHS {la} ICB")),
            local_authority: Some(la.into()),
            opened_on: None,
            closed_on: None,
            successor: None,
        });
    }
    out
}

/// Writes providers in the CSV form `tally providers import` reads.
pub fn write_csv(providers: &[Provider], path: &Path) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(crate::providers::CSV_COLUMNS)?;
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for p in providers {
        w.write_record([
            p.code.as_str(),
            &p.name,
            p.kind.as_str(),
            &p.region,
            p.icb.as_deref().unwrap_or(""),
            p.local_authority.as_deref().unwrap_or(""),
            &date(p.opened_on),
            &date(p.closed_on),
            p.successor.as_ref().map_or("", |s| s.as_str()),
        ])?;
    }
    w.flush()?;
    Ok(())
}
