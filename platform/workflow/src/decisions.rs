//! Module decisions as stored in `case_evaluations`: read, parsed and run
//! again. What replay (`replay.rs`) and what-if (`what_if.rs`) share.

use std::sync::Arc;

use serde_json::Value;
use sqlx::Row;

use crate::WorkflowError;

/// A decision as stored (JSON as text).
pub(crate) struct Stored {
    /// The case.
    pub(crate) case_id: String,
    /// Where the case is.
    pub(crate) tenant_path: String,
    /// The hook that asked.
    pub(crate) hook: String,
    /// The module that answered.
    pub(crate) module: String,
    /// Its version.
    pub(crate) version: String,
    evaluated_on: String,
    input: String,
    settings: String,
    output: String,
}

/// A stored decision parsed: stored data that does not parse is an error.
pub(crate) struct Parsed {
    /// The input.
    pub(crate) input: Value,
    /// The settings (a JSON object).
    pub(crate) settings: Value,
    /// The answer.
    pub(crate) output: Value,
    /// The evaluation date.
    pub(crate) today: civitas_host::Date,
}

/// The columns [`Stored::from_row`] reads (of `case_evaluations`, aliased
/// `e`).
pub(crate) const COLUMNS: &str = "e.case_id, e.tenant_path, e.hook, e.module, e.version, e.evaluated_on, e.input, e.settings, e.output";

impl Stored {
    /// A row selected with [`COLUMNS`].
    pub(crate) fn from_row<R: Row>(row: &R) -> Result<Stored, sqlx::Error>
    where
        for<'r> &'r str: sqlx::ColumnIndex<R>,
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Stored {
            case_id: row.try_get("case_id")?,
            tenant_path: row.try_get("tenant_path")?,
            hook: row.try_get("hook")?,
            module: row.try_get("module")?,
            version: row.try_get("version")?,
            evaluated_on: row.try_get("evaluated_on")?,
            input: row.try_get("input")?,
            settings: row.try_get("settings")?,
            output: row.try_get("output")?,
        })
    }

    /// The stored JSON and date, parsed.
    pub(crate) fn parse(&self) -> Result<Parsed, WorkflowError> {
        let json = |text: &str| -> Result<Value, WorkflowError> {
            serde_json::from_str(text)
                .map_err(|e| crate::corrupt(format!("case_evaluations JSON: {e}")))
        };
        let settings = json(&self.settings)?;
        if !settings.is_object() {
            return Err(crate::corrupt(
                "case_evaluations settings is not a JSON object",
            ));
        }
        let today = civitas_host::Date::parse(&self.evaluated_on).ok_or_else(|| {
            crate::corrupt(format!(
                "case_evaluations evaluated_on {:?} is no date",
                self.evaluated_on
            ))
        })?;
        Ok(Parsed {
            input: json(&self.input)?,
            settings,
            output: json(&self.output)?,
            today,
        })
    }
}

/// `module` (loaded) ready to run for `service` on `tenant`'s behalf,
/// outside any binding.
pub(crate) fn prepared(
    runtime: &civitas_registry::Runtime,
    tenant: &civitas_tenancy::TenantPath,
    service: &str,
    module: civitas_registry::ModuleRef,
    loaded: Arc<civitas_host::LoadedModule>,
) -> Result<civitas_registry::Prepared, civitas_registry::RegistryError> {
    Ok(civitas_registry::Prepared {
        tenant: tenant.clone(),
        service: runtime.service(service)?.clone(),
        resolution: civitas_registry::Resolution {
            module,
            binding_tenant: None,
            candidate: false,
        },
        module: loaded,
    })
}

/// Runs `prepared` on a stored decision's input, settings and date, as
/// any call runs (schemas checked, fuel budget, a fresh instance).
pub(crate) async fn rerun(
    runtime: &civitas_registry::Runtime,
    prepared: &civitas_registry::Prepared,
    parsed: &Parsed,
    tag: (&str, &str),
) -> Result<civitas_registry::Outcome, civitas_registry::RegistryError> {
    let settings = match &parsed.settings {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    runtime
        .run(
            prepared,
            civitas_registry::EvaluationRequest {
                input: &parsed.input,
                settings: Arc::new(settings),
                today: parsed.today,
                log_tags: vec![(tag.0.to_owned(), tag.1.to_owned())],
            },
        )
        .await
}
