//! Staff rosters uploaded by administrators: any bytes, as `.xlsx` (a ZIP of
//! XML, read by calamine) or `.csv` (UTF-8 or GB 18030), must give a roster
//! or a typed error, never a panic; and whatever rows come out, planning
//! them into accounts names problems, never panics.
#![no_main]

use std::sync::OnceLock;

use civitas_identity::ImportUnit;
use civitas_roster::Format;
use civitas_tenancy::TenantPath;
use libfuzzer_sys::fuzz_target;

fn units() -> &'static [ImportUnit] {
    static UNITS: OnceLock<Vec<ImportUnit>> = OnceLock::new();
    UNITS.get_or_init(|| {
        vec![ImportUnit {
            path: TenantPath::parse("310000/310115/310115016").expect("a path"),
            code: "310115016".into(),
            name: "花木街道".into(),
            slug: "huamu".into(),
            slug_path: "shanghai/pudong/huamu".into(),
            lines: vec!["civil-affairs".into()],
        }]
    })
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Xlsx, Format::Csv] {
        if let Ok(roster) = civitas_roster::read(data, format) {
            assert!(roster.rows.len() <= civitas_roster::MAX_ROWS);
            let plan = civitas_identity::plan_import(&roster, units(), &[]);
            // Every row is an account or has problems, never both, never neither.
            assert_eq!(plan.accounts.len() + plan.bad_rows().len(), roster.rows.len());
        }
    }
});
