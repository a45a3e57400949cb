//! `tally providers`: a CSV with a kind of provider Tally does not know imports nothing, and
//! successors must be providers that follow a closure.

use crate::{Tally, write};

#[test]
fn a_provider_csv_with_an_unknown_kind_imports_nothing() {
    let t = Tally::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "providers.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\nRXB,Bramley NHS Trust,acute,London\nrx c,Lower,acute_trust,\n",
    );
    let out = t.expect(1, &["providers", "import", &file]);
    assert!(out.contains("providers.csv: line 3: kind: unknown provider kind \"acute\" (expected one of: acute_trust,"), "{out}");
    assert!(
        out.contains("line 4: code: \"rx c\" is not an ODS code"),
        "{out}"
    );
    assert!(out.contains("line 4: region: is empty"), "{out}");
    // Nothing was recorded, so there is no register yet, and reading one does not make it.
    assert!(
        t.expect(1, &["providers", "list"])
            .contains("there is no register at")
    );
    assert!(!t.data.path().join("tally.db").exists());
    let good = write(
        dir.path(),
        "good.csv",
        "code,name,kind,region\nRXA,Ashford Hospitals NHS Trust,acute_trust,London\n",
    );
    t.expect(0, &["providers", "import", &good]);
    assert!(t.expect(0, &["providers", "list"]).contains("1 provider"));
}

#[test]
fn successors_must_be_providers_that_follow_a_closure() {
    let t = Tally::new();
    let dir = tempfile::tempdir().unwrap();
    let header = "code,name,kind,region,icb,local_authority,opened_on,closed_on,successor\n";
    let own = write(
        dir.path(),
        "own.csv",
        &format!(
            "{header}RA6,Six,acute_trust,London,,,,2026-01-01,RA6\nRA7,Seven,acute_trust,London,,,,,RA8\n"
        ),
    );
    let out = t.expect(1, &["providers", "import", &own]);
    assert!(
        out.contains("line 2: successor: RA6 cannot succeed itself"),
        "{out}"
    );
    assert!(
        out.contains("line 3: successor: RA8 is given, but RA7 has no closed_on date"),
        "{out}"
    );
    let unknown = write(
        dir.path(),
        "unknown.csv",
        &format!("{header}RA6,Six,acute_trust,London,,,,2026-01-01,NOPE\n"),
    );
    let out = t.expect(1, &["providers", "import", &unknown]);
    assert!(
        out.contains("nothing imported: RA6: successor NOPE is not a provider"),
        "{out}"
    );
    assert!(t.expect(0, &["providers", "list"]).contains("0 providers"));
    let good = write(
        dir.path(),
        "good.csv",
        &format!(
            "{header}RA6,Six,acute_trust,London,,,,2026-01-01,RA9\nRA9,Nine,acute_trust,London,,,2026-01-01,,\n"
        ),
    );
    assert!(
        t.expect(0, &["providers", "import", &good])
            .contains("Imported 2 providers")
    );
}
