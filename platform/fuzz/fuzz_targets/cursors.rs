//! Paging cursors come back from clients as `after`: any text is a cursor
//! this server handed out or `None`, never a panic; what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((at, id)) = civitas_workflow::parse_case_cursor(text) {
        assert_eq!(format!("{at}|{id}"), text);
    }
    if let Some(cursor) = civitas_workflow::timers::NotificationCursor::parse(text) {
        assert_eq!(cursor.to_string(), text, "a notification cursor is its own text");
    }
    if let Some((due, case, slot)) = civitas_workflow::inbox::parse_cursor(text) {
        assert!(!due.is_empty());
        let _ = (case, slot);
    }
});
