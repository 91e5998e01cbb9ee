//! The resident register: personal data sealed at rest, masked in every
//! answer, shown in full only to roles with `resident.reveal` and then
//! audited (`personal_data.reveal`, with the reason given).
//!
//! Every route names the tenant it acts in (`tenant`) and may name the line
//! (`line`, default the caller's own); the caller needs the route's action
//! there. A resident is looked up inside that subtree only, so one
//! registered elsewhere is 404 like one that does not exist.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_people::{IdNumber, IdNumberError, NewResident, PeopleError, ResidentView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{self, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};

/// Where a request acts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct Place {
    /// The tenant: a path of codes or a slug path.
    #[param(example = "shanghai/pudong/lujiazui")]
    tenant: String,
    /// The line acted in; defaults to the caller's own.
    #[param(example = "civil-affairs")]
    line: Option<String>,
}

/// A page of residents.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// The tenant: a path of codes or a slug path.
    #[param(example = "shanghai/pudong")]
    tenant: String,
    /// The line acted in; defaults to the caller's own.
    line: Option<String>,
    /// At most this many (1–200, default 50).
    limit: Option<i64>,
    /// Skip this many.
    offset: Option<i64>,
}

/// A resident as shown: masked unless revealed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResidentBody {
    /// The record id.
    id: String,
    /// The tenant that registered the resident.
    tenant: String,
    /// The name (masked: first character).
    #[schema(example = "张*")]
    name: String,
    /// The id number (masked: `310***********1234`).
    #[schema(example = "310***********1234")]
    id_number: String,
    /// The phone (masked: `138****5678`).
    #[schema(example = "138****5678")]
    phone: Option<String>,
    /// The bank account (masked: first and last four digits).
    bank_account: Option<String>,
    /// The address (masked: up to the district).
    address: Option<String>,
    /// Whether the values are masked.
    masked: bool,
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
        }
    }
}

/// Residents, masked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResidentList {
    /// Oldest first.
    residents: Vec<ResidentBody>,
}

/// A resident to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterResident {
    /// The registering tenant: a path of codes or a slug path.
    #[schema(example = "shanghai/pudong/lujiazui")]
    tenant: String,
    /// The line acted in; defaults to the caller's own.
    line: Option<String>,
    /// The full name.
    #[schema(example = "张三")]
    name: String,
    /// The resident id number (GB 11643, check digit verified).
    #[schema(example = "11010519491231002X")]
    id_number: String,
    /// A phone number.
    phone: Option<String>,
    /// A bank account for payments.
    bank_account: Option<String>,
    /// The residential address.
    address: Option<String>,
}

/// An exact-match search.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchResidents {
    /// The subtree searched: a path of codes or a slug path.
    tenant: String,
    /// The line acted in; defaults to the caller's own.
    line: Option<String>,
    /// An id number (exactly one of `id_number` and `phone`).
    id_number: Option<String>,
    /// A phone number.
    phone: Option<String>,
}

/// A request to see a resident's data in full.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevealRequest {
    /// The tenant acted in: a path of codes or a slug path.
    tenant: String,
    /// The line acted in; defaults to the caller's own.
    line: Option<String>,
    /// Why: recorded in the audit trail (required, at most 500 characters).
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

/// The residents of a subtree, masked (`resident.read`).
#[utoipa::path(get, path = "/api/v1/residents", tag = "residents",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "居民（已脱敏） / Residents, masked", body = ResidentList),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_residents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ResidentList>, ApiError> {
    let tenant = access::tenant(&state, &query.tenant).await?;
    let line = caller.line_for(query.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.read")?;
    let limit = query.limit.unwrap_or(50);
    let offset = query.offset.unwrap_or(0);
    if !(1..=200).contains(&limit) || offset < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit 须在 1 到 200 之间，offset 不能为负",
            "limit must be from 1 to 200 and offset not negative",
        ));
    }
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let residents = civitas_people::list(&mut tx, keyring, limit, offset).await?;
    tx.rollback().await?;
    Ok(Json(ResidentList {
        residents: residents.iter().map(|r| r.view().into()).collect(),
    }))
}

/// Registers a resident (`resident.register`); the answer is masked.
#[utoipa::path(post, path = "/api/v1/residents", tag = "residents",
    security(("bearer" = [])),
    request_body = RegisterResident,
    responses(
        (status = 201, description = "已登记 / Registered", body = ResidentBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权登记 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "已登记 / Already registered here", body = ErrorBody),
        (status = 422, description = "身份证号码等无效 / Invalid id number or field", body = ErrorBody)
    ))]
pub(crate) async fn register_resident(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<RegisterResident>,
) -> Result<(StatusCode, Json<ResidentBody>), ApiError> {
    let tenant = access::tenant(&state, &request.tenant).await?;
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
    Ok((StatusCode::CREATED, Json(resident.view().into())))
}

/// One resident, masked (`resident.read`).
#[utoipa::path(get, path = "/api/v1/residents/{id}", tag = "residents",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "居民编号 / The resident's id"), Place),
    responses(
        (status = 200, description = "居民（已脱敏） / The resident, masked", body = ResidentBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "不在该租户范围内 / Not in this subtree", body = ErrorBody)
    ))]
pub(crate) async fn get_resident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(place): ApiQuery<Place>,
) -> Result<Json<ResidentBody>, ApiError> {
    let tenant = access::tenant(&state, &place.tenant).await?;
    let line = caller.line_for(place.line.as_deref());
    let scope = caller.authorize(&state, &tenant.path, line, "resident.read")?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let resident = civitas_people::get(&mut tx, keyring, &id)
        .await?
        .ok_or_else(not_found)?;
    tx.rollback().await?;
    Ok(Json(resident.view().into()))
}

/// Finds residents by exact id number or phone, by blind index; masked
/// (`resident.read`). A POST, so the number never appears in a URL or log.
#[utoipa::path(post, path = "/api/v1/residents/search", tag = "residents",
    security(("bearer" = [])),
    request_body = SearchResidents,
    responses(
        (status = 200, description = "匹配的居民（已脱敏） / Matches, masked", body = ResidentList),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "须且仅须给出一个条件 / Exactly one criterion", body = ErrorBody)
    ))]
pub(crate) async fn search_residents(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SearchResidents>,
) -> Result<Json<ResidentList>, ApiError> {
    let tenant = access::tenant(&state, &request.tenant).await?;
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
    Ok(Json(ResidentList {
        residents: found.iter().map(|r| r.view().into()).collect(),
    }))
}

/// One resident in full (`resident.reveal`), recorded in the audit trail
/// with the reason in the same transaction.
#[utoipa::path(post, path = "/api/v1/residents/{id}/reveal", tag = "residents",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "居民编号 / The resident's id")),
    request_body = RevealRequest,
    responses(
        (status = 200, description = "完整信息（已审计） / In full, audited", body = ResidentBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看完整信息 / Not allowed", body = ErrorBody),
        (status = 404, description = "不在该租户范围内 / Not in this subtree", body = ErrorBody),
        (status = 422, description = "须说明理由 / A reason is required", body = ErrorBody)
    ))]
pub(crate) async fn reveal_resident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RevealRequest>,
) -> Result<Json<ResidentBody>, ApiError> {
    let tenant = access::tenant(&state, &request.tenant).await?;
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
