//! Bad input at scale: property tests that mutate real inputs (the corpus in `tests/fuzz/`,
//! the bundled collection definitions and the hostile corpus of `common/hostile.rs`) and
//! feed them to landing, to definition loading, to a source and to the upload endpoint.
//! Whatever comes in, nothing panics: landing lands or rejects with a report, loading names
//! its problems, the endpoint answers 4xx, never 5xx.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's own variable; 64 here by default,
//! so CI spends a few seconds); `PROPTEST_CASES=10000 cargo test --test sources fuzz::` for a
//! long run. A failing case is shrunk and saved in `tests/proptest-regressions/fuzz.txt`
//! (proptest's place for a module of a binary whose `main.rs` is in `tests/sources/`), to be
//! committed with its fix so it is tried first from then on.

use crate::common;

use datafusion::parquet::file::reader::FileReader;
use proptest::prelude::*;
use tally::domain::Period;
use tally::domain::RunKey;
use tally::landing::lake::Lake;
use tally::landing::{Outcome, land_csv};

const CORPUS: [&str; 2] = [
    include_str!("../fuzz/census.csv"),
    include_str!("../fuzz/census-quirks.csv"),
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64)
}

/// One change to a text: bytes flipped, inserted, cut, lines repeated or swapped, a field
/// replaced by something hostile.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Cut(usize, usize),
    RepeatLine(usize, usize),
    Field(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let hostile = prop_oneof![
        Just(String::new()),
        Just("\"".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("\r\n".to_owned()),
        Just(";".to_owned()),
        Just("9".repeat(40)),
        Just("-0".to_owned()),
        Just("1e309".to_owned()),
        Just("NaN".to_owned()),
        Just("2026-02-30".to_owned()),
        Just("' OR 1=1 --".to_owned()),
        Just("\u{0}".to_owned()),
        Just("x".repeat(70_000)),
        "\\PC{0,12}",
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Edit::Cut(i, n)),
        (any::<usize>(), 1usize..50).prop_map(|(i, n)| Edit::RepeatLine(i, n)),
        (any::<usize>(), hostile).prop_map(|(i, s)| Edit::Field(i, s)),
    ]
}

fn apply(text: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut t = text.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match e {
            Edit::Flip(i, b) if !t.is_empty() => {
                let i = at(*i, t.len());
                t[i] = *b;
            }
            Edit::Flip(..) => {}
            Edit::Insert(i, bytes) => {
                let i = at(*i, t.len() + 1);
                t.splice(i..i, bytes.iter().copied());
            }
            Edit::Cut(i, n) => {
                let i = at(*i, t.len() + 1);
                let end = (i + n).min(t.len());
                t.drain(i..end);
            }
            Edit::RepeatLine(i, n) => {
                let lines: Vec<&[u8]> = t.split(|b| *b == b'\n').collect();
                let line = lines[at(*i, lines.len())].to_vec();
                for _ in 0..*n {
                    t.extend_from_slice(&line);
                    t.push(b'\n');
                }
            }
            Edit::Field(i, s) => {
                let commas: Vec<usize> = (0..t.len()).filter(|&k| t[k] == b',').collect();
                if let Some(&c) = commas.get(at(*i, commas.len().max(1))) {
                    let end = (c + 1..t.len())
                        .find(|&k| t[k] == b',' || t[k] == b'\n')
                        .unwrap_or(t.len());
                    t.splice(c + 1..end, s.bytes());
                }
            }
        }
    }
    t
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any extract lands or is rejected with a report; what lands is no more rows than came in.
    #[test]
    fn any_extract_lands_or_is_rejected(seed in 0usize..CORPUS.len(), edits in proptest::collection::vec(edit(), 0..6)) {
        let bytes = apply(CORPUS[seed].as_bytes(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("extract.csv");
        std::fs::write(&raw, &bytes).unwrap();
        let def = common::load("ward-bed-census").def;
        let key = RunKey {
            collection: "ward-bed-census".into(),
            provider: "RXA".into(),
            period: Period::parse("2026-11-24").unwrap(),
        };
        let lake = Lake::new(dir.path().join("lake"));
        let outcome = runtime().block_on(land_csv(&def, &key, &raw, &lake));
        match outcome.expect("bad input is a report, not an error") {
            Outcome::Ready(pending, report) => {
                prop_assert!(report.rows_accepted + report.rows_rejected <= report.rows_in);
                // No more rows read than the input has lines, and the lake holds exactly
                // the rows the report says it accepted.
                let lines = bytes.split(|b| *b == b'\n').count() as u64;
                prop_assert!(report.rows_in <= lines, "{} rows from {lines} lines", report.rows_in);
                let path = pending.commit(1).unwrap();
                let file = std::fs::File::open(&path).unwrap();
                let kept = datafusion::parquet::file::reader::SerializedFileReader::new(file)
                    .unwrap()
                    .metadata()
                    .file_metadata()
                    .num_rows();
                prop_assert_eq!(kept as u64, report.rows_accepted);
            }
            Outcome::Rejected(report) => {
                prop_assert!(report.rejected.as_deref().is_some_and(|r| !r.is_empty()), "{report:?}");
            }
        }
    }

    /// Any mangled definition loads or is refused with named problems.
    #[test]
    fn any_definition_loads_or_names_its_problems(
        which in 0usize..4,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let name = ["ward-bed-census", "care-home-capacity", "kh03-manual", "uec-sitrep-manual"][which];
        let text = std::fs::read(common::collection_path(name)).unwrap();
        let text = String::from_utf8_lossy(&apply(&text, &edits)).into_owned();
        match tally::registry::load::parse("mangled.toml", &text, chrono_tz::Europe::London) {
            Ok(def) => prop_assert!(!def.items.is_empty()),
            Err(problems) => prop_assert!(!problems.0.is_empty() && problems.0.iter().all(|p| !p.to_string().is_empty())),
        }
    }
}

/// One app for every upload case, on a runtime of its own that outlives them: building the
/// app (a world with returns) takes seconds.
fn app() -> &'static (tokio::runtime::Runtime, common::web::TestApp) {
    static APP: std::sync::OnceLock<(tokio::runtime::Runtime, common::web::TestApp)> =
        std::sync::OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // The day after the corpus's census day, so that uploads of it are inside their
        // window and reach landing.
        let t = rt.block_on(common::web::spawn_at(
            None,
            Some(common::world::utc("2026-11-25T10:00:00Z")),
        ));
        (rt, t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any upload, however its form and file are mangled, gets a 2xx or a 4xx, never a 5xx.
    #[test]
    fn any_upload_is_answered_without_a_server_error(
        seed in 0usize..CORPUS.len(),
        edits in proptest::collection::vec(edit(), 0..4),
        period in prop_oneof![Just("2026-11-24".to_owned()), "\\PC{0,12}"],
        collection in prop_oneof![Just("ward-bed-census".to_owned()), Just("kh03-manual".to_owned()), "\\PC{0,12}"],
        name in prop_oneof![Just("census.csv".to_owned()), Just("census.xlsx".to_owned()), "\\PC{0,16}"],
    ) {
        let bytes = apply(CORPUS[seed].as_bytes(), &edits);
        let (rt, t) = app();
        let status = rt.block_on(async {
            t.upload(
                "/api/v1/providers/RXA/uploads",
                Some(&t.tokens.provider),
                None,
                &[("collection", &collection), ("period", &period)],
                Some((&name, &bytes)),
            )
            .await
            .status
        });
        prop_assert!(!status.is_server_error(), "{status}");
    }
}

proptest! {
    // A quarter of the cases: each pulls through a source, and a spreadsheet through a
    // child process.
    #![proptest_config(ProptestConfig { cases: (cases() / 4).max(8), ..ProptestConfig::default() })]

    /// A file of the hostile corpus (tests/common/hostile.rs), its bytes flipped, inserted or
    /// cut, pulled from a source: the run lands or is rejected with a reason, never fails
    /// (which would mean the service, not the file, was at fault) and never panics.
    #[test]
    fn any_mangled_hostile_file_is_landed_or_rejected(
        which in 0usize..10,
        edits in proptest::collection::vec(
            prop_oneof![
                (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
                (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
                    .prop_map(|(i, b)| Edit::Insert(i, b)),
                (any::<usize>(), 0usize..40).prop_map(|(i, n)| Edit::Cut(i, n)),
            ],
            0..4,
        ),
    ) {
        let corpus = common::hostile::all();
        let h = &corpus[which % corpus.len()];
        let bytes = apply(&h.bytes, &edits);
        let dir = tempfile::tempdir().unwrap();
        let drop = dir.path().join("drop");
        std::fs::create_dir_all(&drop).unwrap();
        let ext = h.name.rsplit_once('.').unwrap().1;
        std::fs::write(drop.join(format!("RXA_2026-11-24.{ext}")), &bytes).unwrap();
        let connector = tally::connectors::ConnectorConfig::File(tally::connectors::file::FileConfig {
            folder: "drop".into(),
            name: format!("{{provider}}_{{period}}.{ext}"),
        });
        let pulled = runtime().block_on(async {
            common::CensusWorld::new(dir.path(), connector).await.pull(false).await
        });
        prop_assert!(
            matches!(pulled.status.as_str(), "landed" | "late" | "rejected"),
            "{}: {} {}", h.name, pulled.status, pulled.message
        );
    }
}
