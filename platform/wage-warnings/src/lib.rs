//! 安薪 — wage-arrears warnings (seed 000, 精准预警 L206–361 and 高效处置
//! L366–411).
//!
//! - [`import`]: a month of project monitoring data read from `.xlsx` or
//!   `.csv` — columns found by their Chinese names, every bad cell named
//!   by row and column, a pure plan ([`import::read`]);
//! - [`store_months`]: the plan stored in one transaction (a project's
//!   month imported again replaces the earlier rows), with its audit
//!   record;
//! - [`run_month`]: one month of a subtree evaluated as one batch per
//!   place through the module runtime — each place's projects by the
//!   module its binding chooses, with its settings (thresholds) — and every
//!   warned project-month filed once as a case on the warning flow, whose
//!   submit hook records the module's decision in the case's history.
//!
//! A project-month is claimed in `wage_warnings` before its case is filed
//! and the case id written after, so a run that stops half-way (a failed
//! filing, a restart) files the rest when the month is run again, and
//! running a month again never files a warning twice.

pub mod import;
#[cfg(feature = "run")]
mod run;
#[cfg(feature = "run")]
mod store;

#[cfg(feature = "run")]
pub use run::{Failure, ModuleUse, OpenedWarning, Region, RunReport, run_month};
#[cfg(feature = "run")]
pub use store::{ImportReport, store_months};

/// The module service the warning rules implement, and the flow its
/// warnings follow.
pub const SERVICE: &str = "hr-social-security/wage-arrears-warning";

/// The line of business.
pub const LINE: &str = "hr-social-security";

/// Why data could not be imported or a month run.
#[cfg(feature = "run")]
#[derive(Debug, thiserror::Error)]
pub enum WageWarningError {
    /// A request that makes no sense (a month that is no month).
    #[error("{0}")]
    Invalid(String),
    /// A run at a tenant below a district, whose warnings would go to a
    /// district outside its subtree.
    #[error(
        "预警按项目所在区派发，请在区级或市级运行（{0} 在区以下） / warnings go to the project's district: run at a district or above ({0} is below one)"
    )]
    BelowDistrict(String),
    /// Nothing imported for the month in the subtree.
    #[error("{0} 没有已导入的项目数据 / no project data imported for {0}")]
    NoData(String),
    /// The module runtime failed as a whole (no binding, no module).
    #[error(transparent)]
    Registry(#[from] civitas_registry::RegistryError),
    /// The workflow failed.
    #[error(transparent)]
    Workflow(#[from] civitas_workflow::WorkflowError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] civitas_storage::StorageError),
    /// Audit failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
}

#[cfg(feature = "run")]
impl From<sqlx::Error> for WageWarningError {
    fn from(e: sqlx::Error) -> WageWarningError {
        WageWarningError::Storage(civitas_storage::StorageError::Database(e))
    }
}

#[cfg(feature = "run")]
impl WageWarningError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            WageWarningError::Invalid(_) | WageWarningError::BelowDistrict(_) => 422,
            WageWarningError::NoData(_) => 404,
            WageWarningError::Registry(e) => e.status(),
            WageWarningError::Workflow(e) => e.status(),
            WageWarningError::Storage(e) if e.is_unavailable() => 503,
            WageWarningError::Storage(_) | WageWarningError::Audit(_) => 500,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            WageWarningError::Invalid(_) => "invalid_month",
            WageWarningError::BelowDistrict(_) => "run_below_district",
            WageWarningError::NoData(_) => "no_project_data",
            WageWarningError::Registry(e) => e.code(),
            WageWarningError::Workflow(e) => e.code(),
            WageWarningError::Storage(e) if e.is_unavailable() => "database_unavailable",
            WageWarningError::Storage(_) | WageWarningError::Audit(_) => "internal",
        }
    }
}

/// `YYYY-MM`, a real month.
#[cfg(feature = "run")]
pub(crate) fn check_month(month: &str) -> Result<(), WageWarningError> {
    let ok = month.len() == 7
        && month.as_bytes().get(4) == Some(&b'-')
        && month
            .get(..4)
            .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()))
        && month
            .get(5..)
            .and_then(|m| m.parse::<u8>().ok())
            .is_some_and(|m| (1..=12).contains(&m));
    if ok {
        Ok(())
    } else {
        Err(WageWarningError::Invalid(format!(
            "“{month}”不是月份（YYYY-MM） / {month:?} is not a month (YYYY-MM)"
        )))
    }
}
