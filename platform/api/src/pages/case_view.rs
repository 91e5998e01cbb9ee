//! How cases read on the faces: names, labels, times and deadlines shared
//! by the portal's and the workbench's pages.

use civitas_web::apply::HistoryLine;
use civitas_web::guide::{self, Bilingual, Field};
use civitas_web::{Lang, Msg};
use civitas_workflow::flow::Flow;
use civitas_workflow::{CaseEvent, CaseState};

use crate::AppState;

/// A flow's name, or the service's id where no flow is found.
pub(super) fn service_name(flow: Option<&Flow>, service: &str) -> Bilingual {
    flow.map_or_else(
        || Bilingual {
            zh: service.to_owned(),
            en: service.to_owned(),
        },
        |f| Bilingual {
            zh: f.name.clone(),
            en: f.name_en.clone(),
        },
    )
}

/// A step's name, if the flow has the step.
pub(super) fn step_name(flow: Option<&Flow>, step: &str) -> Option<Bilingual> {
    flow.and_then(|f| f.step(step)).map(|s| Bilingual {
        zh: s.name.clone(),
        en: s.name_en.clone(),
    })
}

/// A case's history as people read it.
pub(super) fn history(events: &[CaseEvent], flow: Option<&Flow>) -> Vec<HistoryLine> {
    events
        .iter()
        .map(|e| HistoryLine {
            at: local_time(e.at),
            what: event_label(&e.action),
            step: e.step.as_deref().and_then(|s| step_name(flow, s)),
            reason: e.reason.clone(),
        })
        .collect()
}

/// A due date with its unit (`2026-12-11（工作日）`).
pub(super) fn due(
    date: Option<chrono::NaiveDate>,
    unit: Option<&str>,
    lang: Lang,
) -> Option<String> {
    let unit = match unit {
        Some("working") => Msg::WorkingDaysUnit,
        _ => Msg::NaturalDaysUnit,
    };
    date.map(|d| format!("{d}（{}）", unit.text(lang)))
}

/// What the application of `service` asks for.
pub(crate) fn fields_of(state: &AppState, service: &str) -> Vec<Field> {
    state
        .modules()
        .ok()
        .and_then(|m| m.runtime.catalog().service(service).cloned())
        .map(|s| guide::fields(&s.input_schema))
        .unwrap_or_default()
}

/// A stored application as a form's answers.
pub(super) fn answers_of(data: &serde_json::Value) -> Vec<(String, String)> {
    data.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How an applicant reads a case's state.
pub(crate) fn state_label(state: CaseState) -> Msg {
    match state {
        CaseState::Open => Msg::StateOpen,
        CaseState::Returned => Msg::StateReturned,
        CaseState::Paused => Msg::StatePaused,
        CaseState::Closed => Msg::StateApproved,
        CaseState::Rejected => Msg::StateRejected,
        CaseState::Withdrawn => Msg::StateWithdrawn,
    }
}

/// How an applicant reads an event of the history.
pub(super) fn event_label(action: &str) -> Msg {
    match action {
        "submit" => Msg::EventSubmit,
        "approve" => Msg::EventApprove,
        "return" => Msg::EventReturn,
        "reject" => Msg::EventReject,
        "transfer" => Msg::EventTransfer,
        "pause" => Msg::EventPause,
        "resume" => Msg::EventResume,
        "extend" => Msg::EventExtend,
        "withdraw" => Msg::EventWithdraw,
        "resubmit" => Msg::EventResubmit,
        "countersign" => Msg::EventCountersign,
        "overdue" => Msg::EventOverdue,
        "attach" => Msg::EventAttach,
        "rate" => Msg::EventRate,
        _ => Msg::EventOther,
    }
}

/// Unix microseconds as Beijing time (UTC+8, no daylight saving), to the
/// minute: what the applicant's clock says.
pub(super) fn local_time(micros: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600);
    match (chrono::DateTime::from_timestamp_micros(micros), beijing) {
        (Some(at), Some(zone)) => at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
        _ => String::new(),
    }
}
