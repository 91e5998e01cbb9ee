//! Project monitoring data uploaded by HR bureaus (安薪): any bytes, as
//! `.xlsx` or `.csv`, must give a plan or a typed error, never a panic; and
//! every good row is a document with its place, every other row named.
#![no_main]

use std::sync::OnceLock;

use civitas_roster::Format;
use civitas_tenancy::TenantPath;
use civitas_wage_warnings::import::{self, Places};
use libfuzzer_sys::fuzz_target;

fn places() -> &'static Places {
    static PLACES: OnceLock<(TenantPath, TenantPath, Places)> = OnceLock::new();
    let (_, _, places) = PLACES.get_or_init(|| {
        let pudong = TenantPath::parse("310000/310115").expect("a path");
        let lujiazui = TenantPath::parse("310000/310115/310115005").expect("a path");
        let places = Places::new([
            (&pudong, "310115", "浦东新区"),
            (&lujiazui, "310115005", "陆家嘴街道"),
        ]);
        (pudong, lujiazui, places)
    });
    places
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Xlsx, Format::Csv] {
        if let Ok(plan) = import::read(data, format, places()) {
            assert!(plan.records.len() <= import::MAX_ROWS);
            for record in &plan.records {
                assert!(record.record.is_object());
                assert_eq!(record.record["month"], record.month.as_str());
            }
        }
    }
});
