//! The resident register: personal data sealed at rest, masked in every
//! answer, shown in full only to roles with `resident.reveal` and then
//! audited (`personal_data.reveal`, with the reason given).
//!
//! ```text
//! GET  /api/v1/tenants/{path}/residents              the subtree's residents, masked, paged
//! POST /api/v1/tenants/{path}/residents              register one at the tenant
//! POST /api/v1/tenants/{path}/residents/search       exact id number or phone, by blind index
//! GET  /api/v1/tenants/{path}/residents/{id}         one, masked
//! POST /api/v1/tenants/{path}/residents/{id}/reveal  one in full, audited with the reason
//! PUT  /api/v1/tenants/{path}/residents/{id}/population  the population record; 免申即享 evaluated
//! ```
//!
//! The tenant is the one the path names; the line is `line` (a query
//! parameter, or a body field for the POSTs), by default the caller's own.
//! The caller needs the route's action there. A resident is looked up
//! inside that subtree only, so one registered elsewhere is 404 like one
//! that does not exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_people::{IdNumber, IdNumberError, NewResident, PeopleError, ResidentView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::paging;
use crate::tenant::Tenant;

/// A resident id in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ResidentParam {
    /// 居民编号 / The resident's id.
    id: String,
}

/// The line a read acts in.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LineQuery {
    /// 业务条线（默认为调用者所属条线）/ The line acted in; defaults to the caller's own.
    #[param(example = "civil-affairs")]
    line: Option<String>,
}

/// A page of residents.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// 业务条线（默认为调用者所属条线）/ The line acted in; defaults to the caller's own.
    #[param(example = "civil-affairs")]
    line: Option<String>,
    /// 上一页的 next / The previous page's `next`.
    after: Option<String>,
    /// 每页条数 1–200（默认 50）/ Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A resident as shown: masked unless revealed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResidentBody {
    /// 记录编号 / The record id.
    id: String,
    /// 登记租户 / The tenant that registered the resident.
    #[schema(example = "310000/310115/310115005")]
    tenant: String,
    /// 姓名（脱敏：保留首字）/ The name (masked: first character).
    #[schema(example = "张*")]
    name: String,
    /// 身份证号码（脱敏）/ The id number (masked: `310***********1234`).
    #[schema(example = "310***********1234")]
    id_number: String,
    /// 手机号码（脱敏）/ The phone (masked: `138****5678`).
    #[schema(example = "138****5678")]
    phone: Option<String>,
    /// 银行账户（脱敏：保留首末四位）/ The bank account (masked: first and last four digits).
    bank_account: Option<String>,
    /// 住址（脱敏：保留到区）/ The address (masked: up to the district).
    address: Option<String>,
    /// 是否已脱敏 / Whether the values are masked.
    masked: bool,
    /// 登记时间（RFC 3339）/ When the resident was registered (RFC 3339).
    #[schema(example = "2026-11-23T09:30:00+00:00")]
    registered_at: String,
}

impl From<ResidentView> for ResidentBody {
    fn from(view: ResidentView) -> ResidentBody {
        ResidentBody {
            id: view.id,
            tenant: view.tenant_path,
            name: view.name,
            id_number: view.id_number,
            phone: view.phone,
            bank_account: view.bank_account,
            address: view.address,
            masked: view.masked,
            registered_at: view.registered_at.to_rfc3339(),
        }
    }
}

impl From<&civitas_people::Resident> for ResidentBody {
    fn from(resident: &civitas_people::Resident) -> ResidentBody {
        resident.view().into()
    }
}

/// A page of residents, masked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResidentPage {
    /// 居民（按登记时间，最早在前）/ Oldest registration first.
    residents: Vec<ResidentBody>,
    /// 下一页游标，末页无此字段 / Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// Residents found by exact match, masked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResidentMatches {
    /// 匹配的居民（按租户、编号）/ The matches, by tenant and id.
    residents: Vec<ResidentBody>,
}

/// A resident to register at the tenant the path names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterResident {
    /// 业务条线（默认为调用者所属条线）/ The line acted in; defaults to the caller's own.
    #[schema(example = "civil-affairs")]
    line: Option<String>,
    /// 姓名 / The full name.
    #[schema(example = "张三")]
    name: String,
    /// 身份证号码（GB 11643，校验位核验）/ The resident id number (GB 11643, check digit verified).
    #[schema(example = "11010519491231002X")]
    id_number: String,
    /// 手机号码 / A phone number.
    #[schema(example = "13812345678")]
    phone: Option<String>,
    /// 银行账户（用于发放补贴）/ A bank account for payments.
    bank_account: Option<String>,
    /// 住址 / The residential address.
    address: Option<String>,
}

/// An exact-match search in the subtree the path names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchResidents {
    /// 业务条线（默认为调用者所属条线）/ The line acted in; defaults to the caller's own.
    #[schema(example = "civil-affairs")]
    line: Option<String>,
    /// 身份证号码（与 phone 二选一）/ An id number (exactly one of `id_number` and `phone`).
    id_number: Option<String>,
    /// 手机号码 / A phone number.
    phone: Option<String>,
}

/// A request to see a resident's data in full.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevealRequest {
    /// 业务条线（默认为调用者所属条线）/ The line acted in; defaults to the caller's own.
    #[schema(example = "civil-affairs")]
    line: Option<String>,
    /// 查看理由，记入审计（必填，最多 500 字）/ Why: recorded in the audit trail (required, at most 500 characters).
    #[schema(example = "核对低保申请银行账户 / Checking a subsistence application's bank account")]
    reason: String,
}

pub(crate) fn id_number_error(error: &IdNumberError) -> ApiError {
    let (zh, en) = match error {
        IdNumberError::Length(n) => (
            format!("身份证号码应为 18 位，实际 {n} 位"),
            format!("A resident id number has 18 characters, got {n}"),
        ),
        IdNumberError::Character => (
            "身份证号码只能包含数字，末位可为 X".to_owned(),
            "A resident id number holds digits; the last may be X".to_owned(),
        ),
        IdNumberError::BirthDate => (
            "身份证号码中的出生日期无效".to_owned(),
            "The birth date in the id number is not a valid date".to_owned(),
        ),
        IdNumberError::CheckDigit => (
            "身份证号码校验位错误".to_owned(),
            "The id number's check character is wrong".to_owned(),
        ),
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_id_number",
        zh,
        en,
    )
}

impl From<PeopleError> for ApiError {
    fn from(error: PeopleError) -> ApiError {
        match error {
            PeopleError::Duplicate => ApiError::new(
                StatusCode::CONFLICT,
                "resident_exists",
                "该租户已登记此身份证号码的居民",
                "A resident with this id number is already registered with this tenant",
            ),
            PeopleError::Storage(e) => e.into(),
            other => {
                tracing::error!(error = %other, "resident register failed");
                ApiError::internal()
            }
        }
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resident_not_found",
        "该租户范围内没有此居民",
        "No such resident in this tenant's subtree",
    )
}

fn too_long(field: &str, max: usize) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field} 须为 1 到 {max} 个字符"),
        format!("{field} must be 1 to {max} characters"),
    )
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        return Err(too_long(field, max));
    }
    Ok(())
}

/// The residents of the tenant's subtree, masked, oldest registration
/// first, a page at a time (`resident.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/residents", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam, ListQuery),
    responses(
        (status = 200, description = "居民（已脱敏）/ A page of residents, masked", body = ResidentPage),
        (status = 400, description = "查询参数、limit 或 after 无效 / Invalid query, limit or cursor", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key configured", body = ErrorBody)
    ))]
pub(crate) async fn list_residents(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ResidentPage>, ApiError> {
    let line = caller.line_for(query.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.read")?;
    let limit = paging::limit(query.limit)?;
    let after = match &query.after {
        None => None,
        Some(cursor) => {
            let [micros, id] = paging::cursor_fields(cursor)?;
            let at = micros
                .parse::<i64>()
                .ok()
                .and_then(chrono::DateTime::from_timestamp_micros)
                .ok_or_else(paging::invalid_cursor)?;
            Some((at, id))
        }
    };
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let residents = civitas_people::list(
        &mut tx,
        keyring,
        after.as_ref().map(|(at, id)| (*at, id.as_str())),
        i64::from(limit) + 1,
    )
    .await?;
    tx.rollback().await?;
    let (residents, next) = paging::page(residents, limit, |r| {
        paging::cursor(&[r.created_at.timestamp_micros().to_string(), r.id.clone()])
    });
    Ok(Json(ResidentPage {
        residents: residents.iter().map(Into::into).collect(),
        next,
    }))
}

/// Registers a resident at the tenant (`resident.register`); the answer is
/// masked.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/residents", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = RegisterResident,
    responses(
        (status = 201, description = "已登记 / Registered", body = ResidentBody),
        (status = 403, description = "无权登记 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "已登记 / Already registered here", body = ErrorBody),
        (status = 422, description = "身份证号码或字段无效 / Invalid id number or field", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key configured", body = ErrorBody)
    ))]
pub(crate) async fn register_resident(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<RegisterResident>,
) -> Result<(StatusCode, Json<ResidentBody>), ApiError> {
    let line = caller.line_for(request.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.register")?;
    let id_number = IdNumber::parse(&request.id_number).map_err(|e| id_number_error(&e))?;
    check_text("name", &request.name, 100)?;
    for (field, value) in [
        ("phone", &request.phone),
        ("bank_account", &request.bank_account),
        ("address", &request.address),
    ] {
        if let Some(value) = value {
            check_text(field, value, 200)?;
        }
    }
    let keyring = state.keyring()?;
    let mut tx = state.db().begin(&scope).await?;
    let id = civitas_people::register(
        &mut tx,
        keyring,
        &tenant.path,
        &NewResident {
            name: request.name.trim().to_owned(),
            id_number,
            phone: request.phone,
            bank_account: request.bank_account,
            address: request.address,
        },
    )
    .await?;
    civitas_audit::record(
        &mut tx,
        &tenant.path,
        &civitas_audit::NewEvent {
            actor: caller.username().to_owned(),
            action: "resident.register".to_owned(),
            target: format!("resident:{id}"),
            detail: serde_json::json!({"line": line}),
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "audit record failed");
        ApiError::internal()
    })?;
    let resident = civitas_people::get(&mut tx, keyring, &id)
        .await?
        .ok_or_else(ApiError::internal)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json((&resident).into())))
}

/// One resident of the tenant's subtree, masked (`resident.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/residents/{id}", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam, ResidentParam, LineQuery),
    responses(
        (status = 200, description = "居民（已脱敏）/ The resident, masked", body = ResidentBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在或居民不在该租户范围内 / No such tenant, or no such resident in its subtree", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key configured", body = ErrorBody)
    ))]
pub(crate) async fn get_resident(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(ResidentParam { id }): Path<ResidentParam>,
    ApiQuery(query): ApiQuery<LineQuery>,
) -> Result<Json<ResidentBody>, ApiError> {
    let line = caller.line_for(query.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.read")?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let resident = civitas_people::get(&mut tx, keyring, &id)
        .await?
        .ok_or_else(not_found)?;
    tx.rollback().await?;
    Ok(Json((&resident).into()))
}

impl From<civitas_entitlements::EntitlementError> for ApiError {
    fn from(error: civitas_entitlements::EntitlementError) -> ApiError {
        use civitas_entitlements::EntitlementError;
        match error {
            EntitlementError::Workflow(e) => e.into(),
            EntitlementError::Registry(e) => e.into(),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

/// A resident's population record as the population register sends it;
/// the date of birth is the identity number's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PopulationRequest {
    /// 户籍 / Household registration.
    household: civitas_entitlements::Household,
    /// 残疾等级（0 无，1 最重至 4）/ Disability grade: 0 none, 1 (most severe) to 4.
    #[schema(minimum = 0, maximum = 4)]
    disability_grade: u8,
    /// 已死亡 / Deceased.
    deceased: bool,
    /// 条线（默认调用者的）/ The line (default: the caller's).
    line: Option<String>,
}

/// A population record kept, and what the entitlements said.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PopulationAnswer {
    /// 居民档案编号 / The resident.
    resident_id: String,
    /// 人口信息 / The record as kept.
    record: civitas_entitlements::PopulationRecord,
    /// 免申即享 / Each entitlement flow's answer, and its case when filed.
    entitlements: Vec<civitas_entitlements::Entitlement>,
}

/// Records a resident's population record (`resident.register` in the
/// caller's line) — the household registration, disability grade and
/// whether alive; the date of birth from the identity number — and, since
/// the record changed, asks every entitlement (免申即享) flow of that line,
/// at the resident's place, whether it now entitles them: an eligible
/// resident gets a case, filed by the caller with origin `entitlement`,
/// that the street only confirms — one per person, whichever of their
/// resident records it came from. No one applies. A rule that cannot be
/// asked, or a case that cannot be filed, is named in its entitlement's
/// `error` (the record is kept; the nightly run tries again). Audited as
/// `population.update` (and `case.create`).
#[utoipa::path(put, path = "/api/v1/tenants/{path}/residents/{id}/population", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam, ResidentParam),
    request_body = PopulationRequest,
    responses(
        (status = 200, description = "已记录；免申即享比对结果 / Kept; what each entitlement said", body = PopulationAnswer),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在或居民不在该租户范围内 / No such tenant, or no such resident in its subtree", body = ErrorBody),
        (status = 422, description = "字段无效，或身份证号码不含出生日期 / An invalid field, or no date of birth in the identity number", body = ErrorBody),
        (status = 503, description = "未配置主密钥或业务模块运行环境 / No master key or module runtime", body = ErrorBody)
    ))]
pub(crate) async fn record_population(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(ResidentParam { id }): Path<ResidentParam>,
    ApiJson(request): ApiJson<PopulationRequest>,
) -> Result<Json<PopulationAnswer>, ApiError> {
    let line = caller.line_for(request.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.register")?;
    let keyring = state.keyring()?;
    let runtime = state.modules()?.runtime.clone();
    let workflow = super::cases::workflow(&state)?;
    let mut tx = state.db().begin(&scope).await?;
    let resident = civitas_people::get(&mut tx, keyring, &id)
        .await?
        .ok_or_else(not_found)?;
    let birth_date = resident.birth_date().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_birth_date",
            "身份证号码中没有有效的出生日期",
            "The identity number holds no valid date of birth",
        )
    })?;
    let record = civitas_entitlements::PopulationRecord {
        birth_date,
        household: request.household,
        disability_grade: request.disability_grade,
        deceased: request.deceased,
    };
    let resident_tenant = civitas_tenancy::TenantPath::parse(&resident.tenant_path)
        .map_err(|_| ApiError::internal())?;
    civitas_entitlements::record_population(
        &mut tx,
        &resident_tenant,
        &id,
        &record,
        caller.username(),
        workflow.clock().now_micros(),
    )
    .await?;
    tx.commit().await?;
    let entitlements = civitas_entitlements::evaluate_resident(
        state.db(),
        &scope,
        &workflow,
        &runtime,
        &civitas_workflow::Who {
            account: caller.account_id().to_owned(),
            username: caller.username().to_owned(),
        },
        &id,
        Some(line),
    )
    .await?;
    Ok(Json(PopulationAnswer {
        resident_id: id,
        record,
        entitlements,
    }))
}

/// Finds residents of the tenant's subtree by exact id number or phone, by
/// blind index; masked (`resident.read`). A POST, so the number never
/// appears in a URL or log.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/residents/search", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = SearchResidents,
    responses(
        (status = 200, description = "匹配的居民（已脱敏）/ Matches, masked", body = ResidentMatches),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "须且仅须给出一个条件，或号码无效 / Exactly one criterion, valid", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key configured", body = ErrorBody)
    ))]
pub(crate) async fn search_residents(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<SearchResidents>,
) -> Result<Json<ResidentMatches>, ApiError> {
    let line = caller.line_for(request.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.read")?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let found = match (&request.id_number, &request.phone) {
        (Some(id_number), None) => {
            let id_number = IdNumber::parse(id_number).map_err(|e| id_number_error(&e))?;
            civitas_people::find_by_id_number(&mut tx, keyring, &id_number).await?
        }
        (None, Some(phone)) => civitas_people::find_by_phone(&mut tx, keyring, phone).await?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "one_criterion",
                "须且仅须给出 id_number 或 phone 之一",
                "Give exactly one of id_number and phone",
            ));
        }
    };
    tx.rollback().await?;
    Ok(Json(ResidentMatches {
        residents: found.iter().map(Into::into).collect(),
    }))
}

/// One resident of the tenant's subtree in full (`resident.reveal`),
/// recorded in the audit trail with the reason in the same transaction.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/residents/{id}/reveal", tag = "residents",
    security(("bearer" = [])),
    params(TenantParam, ResidentParam),
    request_body = RevealRequest,
    responses(
        (status = 200, description = "完整信息（已审计）/ In full, audited", body = ResidentBody),
        (status = 403, description = "无权查看完整信息 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在或居民不在该租户范围内 / No such tenant, or no such resident in its subtree", body = ErrorBody),
        (status = 422, description = "须说明理由 / A reason is required", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key configured", body = ErrorBody)
    ))]
pub(crate) async fn reveal_resident(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(ResidentParam { id }): Path<ResidentParam>,
    ApiJson(request): ApiJson<RevealRequest>,
) -> Result<Json<ResidentBody>, ApiError> {
    let line = caller.line_for(request.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.reveal")?;
    check_text("reason", &request.reason, 500)?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin(&scope).await?;
    let view = civitas_people::reveal(
        &mut tx,
        keyring,
        &id,
        caller.username(),
        request.reason.trim(),
    )
    .await?
    .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(Json(view.into()))
}
