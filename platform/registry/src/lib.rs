//! The module registry, bindings and the runtime that evaluates a service.
//!
//! - **Registry** ([`publish`], [`modules`], [`module`], [`artifact`],
//!   [`yank`]): artifacts content-addressed by SM3, signed with a publisher's
//!   registered SM2 key ([`register_signing_key`]); a `(name, version)` is
//!   immutable once published. Stored in the database, so every node sees them.
//! - **Bindings** ([`bind`], [`rollback`], [`unbind`], [`bindings`],
//!   [`resolve`]): a module version attached to (service, tenant), with an
//!   optional candidate serving a percentage of cases chosen from the case id
//!   ([`rollout_bucket`]). The most specific binding on the path from the
//!   case's tenant up to its root wins, else the service's default.
//! - **Runtime** ([`Runtime`]): resolves, loads (verifying digest and
//!   signature first), and runs a module for a tenant; checks input and output
//!   against the service's schemas.
//!
//! Every publish, yank and binding change is written to the audit chain in
//! the same transaction.

mod artifacts;
mod bindings;
mod gate;
mod runtime;

pub use artifacts::{
    ModuleRecord, Publication, SigningKey, artifact, module, modules, publish,
    register_signing_key, revoke_signing_key, signing_keys, yank,
};
pub use bindings::rollback_target;
pub use bindings::{
    Binding, ModuleRef, Resolution, bind, binding_history, bindings, resolve, rollback,
    rollout_bucket, unbind,
};
pub use gate::{CONFINE_FOR, QUEUE_WAIT};
pub use runtime::{
    BatchAnswer, BatchOutcome, BatchRequest, CallCounts, EvaluationRequest, Outcome, Prepared,
    Runtime,
};

use civitas_storage::StorageError;

/// What can go wrong in the registry, the bindings or an evaluation. Each
/// variant has a stable [`RegistryError::code`] and an HTTP status
/// ([`RegistryError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A request field is invalid.
    #[error("请求无效 / invalid request: {0}")]
    Invalid(String),
    /// No such service in the catalog.
    #[error("服务不存在 / no such service: {0}")]
    UnknownService(String),
    /// No such module version.
    #[error("模块版本不存在 / no such module version: {0}")]
    UnknownModule(String),
    /// The version exists already (versions are immutable).
    #[error(
        "模块版本已存在且不可更改 / {0} is already published; versions are immutable, publish a new version"
    )]
    AlreadyPublished(String),
    /// The module name belongs to another service.
    #[error("模块名称已用于其他服务 / module {name} implements {service}, not {requested}")]
    WrongService {
        /// The module.
        name: String,
        /// Its service.
        service: String,
        /// The service asked for.
        requested: String,
    },
    /// The publisher has no signing key, or the signature is missing.
    #[error(
        "模块未签名 / the artifact is not signed by a registered SM2 key of the publisher: {0}"
    )]
    Unsigned(String),
    /// The signature does not verify.
    #[error(
        "签名无效 / the SM2 signature does not verify for this artifact, name, version and service"
    )]
    BadSignature,
    /// The stored artifact no longer matches its digest or signature.
    #[error(
        "模块制品已被篡改 / the stored artifact of {0} does not match its SM3 digest or signature; refusing to load it"
    )]
    Tampered(String),
    /// The version's signing key was revoked: it is no longer trusted.
    #[error(
        "模块签名密钥已吊销 / the key that signed {0} was revoked; it is no longer loaded or run"
    )]
    KeyRevoked(String),
    /// The artifact is not an acceptable component.
    #[error(transparent)]
    Load(#[from] civitas_host::LoadError),
    /// The version was yanked and may not be newly bound.
    #[error("模块版本已撤回 / {0} was yanked and cannot be bound")]
    Yanked(String),
    /// Conformance checks failed.
    #[error(
        "模块未通过一致性检查 {check} / the module fails the conformance check {check}: {detail}"
    )]
    Conformance {
        /// The first failing check.
        check: &'static str,
        /// Why.
        detail: String,
        /// The whole report.
        report: Box<civitas_conformance::Report>,
    },
    /// No binding on the path and no default.
    #[error(
        "服务未绑定模块 / no module is bound to {service} for {tenant} or above, and the service has no default"
    )]
    NotBound {
        /// The service.
        service: String,
        /// The tenant.
        tenant: String,
    },
    /// Only the module's publisher may publish further versions or yank.
    #[error(
        "模块 {name} 由 {owner} 发布，只有发布者可以发布新版本或撤回 / module {name} belongs to its publisher {owner}: only they publish versions of it or yank them"
    )]
    NotOwner {
        /// The module.
        name: String,
        /// Its publisher.
        owner: String,
    },
    /// The key registration does not prove possession of the key.
    #[error(
        "未能证明持有该私钥 / the proof does not verify: sign the key registration message for your username with the private key (civitas module keygen --username prints it)"
    )]
    Unproven,
    /// Another change of the same binding committed first.
    #[error(
        "绑定已被同时修改，请刷新后重试 / the binding was changed at the same time by someone else; reload and retry"
    )]
    Conflict,
    /// Nothing to roll back.
    #[error("没有可回滚的变更 / there is no earlier binding state to roll back to")]
    NothingToRollBack,
    /// The input does not match the service's input schema.
    #[error(transparent)]
    InputSchema(civitas_services::SchemaViolation),
    /// The module's output does not match the service's output schema.
    #[error("模块输出不符合服务模式 / the module's output breaks the service's output schema: {0}")]
    OutputSchema(civitas_services::SchemaViolation),
    /// The module failed the call.
    #[error(transparent)]
    Call(#[from] civitas_host::CallError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Auditing failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// The tenant's calls of this version are confined after a hang and the
    /// one call at a time it may run did not come free in time.
    #[error(
        "该模块在本单位的调用刚刚超出计算或时间配额，现逐个执行，请稍后重试 / calls of {module} for {tenant} recently ran out of fuel or time and now run one at a time; none came free in time, retry shortly"
    )]
    Confined {
        /// The tenant the call served.
        tenant: String,
        /// The module version.
        module: String,
    },
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> RegistryError {
        RegistryError::Storage(StorageError::from(error))
    }
}

impl RegistryError {
    /// Whether the call ran out of fuel or time: burned a core for its
    /// whole limit (what confines a lane).
    pub fn is_hang(&self) -> bool {
        matches!(
            self,
            RegistryError::Call(
                civitas_host::CallError::FuelExhausted { .. }
                    | civitas_host::CallError::Timeout { .. }
            )
        )
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Invalid(_) => "invalid_request",
            RegistryError::UnknownService(_) => "service_not_found",
            RegistryError::UnknownModule(_) => "module_not_found",
            RegistryError::AlreadyPublished(_) => "module_version_exists",
            RegistryError::WrongService { .. } => "module_service_mismatch",
            RegistryError::Unsigned(_) => "module_unsigned",
            RegistryError::BadSignature => "module_bad_signature",
            RegistryError::Tampered(_) => "module_tampered",
            RegistryError::KeyRevoked(_) => "module_key_revoked",
            RegistryError::Load(civitas_host::LoadError::ForbiddenImport { .. }) => {
                "module_forbidden_import"
            }
            RegistryError::Load(civitas_host::LoadError::MissingExport { .. }) => {
                "module_missing_export"
            }
            RegistryError::Load(_) => "module_invalid",
            RegistryError::Yanked(_) => "module_yanked",
            RegistryError::Conformance { .. } => "conformance_failed",
            RegistryError::NotBound { .. } => "service_not_bound",
            RegistryError::NothingToRollBack => "nothing_to_roll_back",
            RegistryError::NotOwner { .. } => "module_not_owner",
            RegistryError::Unproven => "signing_key_unproven",
            RegistryError::Conflict => "binding_conflict",
            RegistryError::InputSchema(_) => "input_schema_violation",
            RegistryError::OutputSchema(_) => "module_output_schema",
            RegistryError::Call(error) => error.code(),
            RegistryError::Confined { .. } => "module_calls_confined",
            _ if self.database_unavailable() => "database_unavailable",
            RegistryError::Storage(_) | RegistryError::Audit(_) => "internal",
        }
    }

    /// Whether the error means the database cannot be reached right now
    /// ([`StorageError::is_unavailable`]), directly or through the audit log.
    fn database_unavailable(&self) -> bool {
        match self {
            RegistryError::Storage(e)
            | RegistryError::Audit(civitas_audit::AuditError::Storage(e)) => e.is_unavailable(),
            _ => false,
        }
    }

    /// The HTTP status: 4xx for the caller's or publisher's mistakes, 502
    /// when the module misbehaved, 503 when the host is busy or the
    /// database cannot be reached, 500 only for the platform's own failures
    /// (a host task that panicked, fuel that could not be set, a storage or
    /// audit error while resolving or loading).
    pub fn status(&self) -> u16 {
        use civitas_host::CallError;
        match self {
            RegistryError::Invalid(_)
            | RegistryError::Unsigned(_)
            | RegistryError::BadSignature
            | RegistryError::Load(_)
            | RegistryError::Conformance { .. }
            | RegistryError::InputSchema(_)
            | RegistryError::Unproven
            | RegistryError::Yanked(_) => 422,
            RegistryError::NotOwner { .. } => 403,
            RegistryError::UnknownService(_)
            | RegistryError::UnknownModule(_)
            | RegistryError::NotBound { .. } => 404,
            RegistryError::AlreadyPublished(_)
            | RegistryError::WrongService { .. }
            | RegistryError::NothingToRollBack
            | RegistryError::Conflict => 409,
            RegistryError::Call(CallError::Rejected { .. }) => 422,
            RegistryError::Call(CallError::Busy) | RegistryError::Confined { .. } => 503,
            RegistryError::Call(CallError::Internal(_)) => 500,
            RegistryError::Tampered(_)
            | RegistryError::KeyRevoked(_)
            | RegistryError::OutputSchema(_)
            | RegistryError::Call(_) => 502,
            _ if self.database_unavailable() => 503,
            RegistryError::Storage(_) | RegistryError::Audit(_) => 500,
        }
    }
}

/// A transaction the registry can read through: a tenant's
/// ([`civitas_storage::TenantTx`]) or the platform's
/// ([`civitas_storage::PlatformTx`]; the registry is platform data, and its
/// listing needs no tenant). Writes always take a `TenantTx`: a request's
/// scope was authorised (`module.publish`, `module.bind`); the server's demo
/// seeding writes in a platform-task scope at the root.
pub trait Conn {
    /// The underlying connection.
    fn conn(&mut self) -> civitas_storage::Connection<'_>;
}

impl Conn for civitas_storage::TenantTx {
    fn conn(&mut self) -> civitas_storage::Connection<'_> {
        self.connection()
    }
}

impl Conn for civitas_storage::PlatformTx {
    fn conn(&mut self) -> civitas_storage::Connection<'_> {
        self.connection()
    }
}

/// Today in China Standard Time (UTC+8): the evaluation date unless a
/// request names one.
pub fn today_in_china() -> civitas_host::Date {
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    civitas_host::Date::parse(&now.format("%Y-%m-%d").to_string()).unwrap_or(civitas_host::Date {
        year: 1970,
        month: 1,
        day: 1,
    })
}

/// The SM3 digest (hex) of an evaluation's input: its JSON with every
/// object's keys in order (serde_json's map is ordered by key in this
/// workspace), so a document stored and read back — PostgreSQL's `jsonb`
/// reorders keys — keeps its digest. A case's history records it beside each
/// module decision, so the decision can be tied to the facts it was made on.
pub fn input_digest<T: serde::Serialize + ?Sized>(input: &T) -> String {
    // Serialising JSON values and maps cannot fail (their keys are strings).
    let bytes = serde_json::to_vec(input).unwrap_or_default();
    hex::encode(civitas_crypto::sm3::digest(&bytes))
}

/// Microseconds since the epoch, as stored.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub(crate) fn from_micros(micros: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::RegistryError;

    #[test]
    fn an_input_digest_ignores_key_order_and_sees_every_value() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "甲"}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a": {"x": "甲", "y": [1, 2]}, "b": 1}"#).unwrap();
        assert_eq!(super::input_digest(&a), super::input_digest(&b));
        assert_eq!(super::input_digest(&a).len(), 64);
        let c: serde_json::Value =
            serde_json::from_str(r#"{"a": {"x": "甲", "y": [2, 1]}, "b": 1}"#).unwrap();
        assert_ne!(super::input_digest(&a), super::input_digest(&c));
    }
    use civitas_host::CallError;
    use civitas_storage::StorageError;

    /// Every way a call can fail; adding a variant to `CallError` breaks
    /// the match below until it is listed here with its status.
    fn every_call_error() -> Vec<CallError> {
        let all = vec![
            CallError::Rejected {
                code: "invalid_input".into(),
                message: "no".into(),
            },
            CallError::FuelExhausted { budget: 1 },
            CallError::Timeout { millis: 1 },
            CallError::MemoryLimit { limit: 1 },
            CallError::StackOverflow,
            CallError::Trap("unreachable".into()),
            CallError::InvalidOutput("not json".into()),
            CallError::OutputTooLarge { size: 2, limit: 1 },
            CallError::TransferTooLarge { limit: 1 },
            CallError::Busy,
            CallError::Internal("join error".into()),
        ];
        for error in &all {
            match error {
                CallError::Rejected { .. }
                | CallError::FuelExhausted { .. }
                | CallError::Timeout { .. }
                | CallError::MemoryLimit { .. }
                | CallError::StackOverflow
                | CallError::Trap(_)
                | CallError::InvalidOutput(_)
                | CallError::OutputTooLarge { .. }
                | CallError::TransferTooLarge { .. }
                | CallError::Busy
                | CallError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn a_module_call_answers_422_502_or_503_and_500_only_for_the_host_itself() {
        for error in every_call_error() {
            let code = error.code();
            let expected = match &error {
                CallError::Rejected { .. } => 422,
                CallError::Busy => 503,
                CallError::Internal(_) => 500,
                fault => {
                    assert!(fault.is_module_fault(), "{code}");
                    502
                }
            };
            let error = RegistryError::Call(error);
            assert_eq!(error.status(), expected, "{code}");
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn an_unreachable_database_is_503_other_storage_errors_500() {
        let unavailable = RegistryError::Storage(StorageError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(
            (unavailable.status(), unavailable.code()),
            (503, "database_unavailable")
        );
        let through_audit = RegistryError::Audit(civitas_audit::AuditError::Storage(
            StorageError::Database(sqlx::Error::PoolClosed),
        ));
        assert_eq!(
            (through_audit.status(), through_audit.code()),
            (503, "database_unavailable")
        );
        let failed = RegistryError::Storage(StorageError::Corrupt("bad row".into()));
        assert_eq!((failed.status(), failed.code()), (500, "internal"));
    }
}
