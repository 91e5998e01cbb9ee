//! Official documents (文书) sealed with a tenant's electronic seal, the
//! seals themselves, and public verification.
//!
//! ```text
//! GET  /api/v1/tenants/{path}/cases/{id}/issued-documents                 issued documents and the kinds still to issue (case.read; applicants: their own)
//! POST /api/v1/tenants/{path}/cases/{id}/issued-documents/{kind}          issue one for a closed case (document.issue in the case's line)
//! GET  /api/v1/tenants/{path}/cases/{id}/issued-documents/{kind}/content  the sealed PDF (case.read; applicants: their own)
//! GET|POST /api/v1/tenants/{path}/seals                                   the subtree's seals; make one (seal.manage)
//! POST /api/v1/tenants/{path}/seals/{id}/revoke                           revoke one (seal.manage)
//! POST /api/v1/documents/verify                                           verify a sealed PDF (anyone)
//! GET  /api/v1/documents/root-certificate                                 the platform's root certificate (anyone)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use civitas_seal::store::{
    self as seals, IssueRequest, IssuedDocument, Issuer, NewSealRequest, SealRecord, StoreError,
};
use civitas_seal::template::{Field, Template};
use civitas_seal::{Fonts, Verified};
use civitas_tenancy::TenantPath;
use civitas_workflow::{Case, CaseState, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::cases::{CaseParam, case_scope, read_case};
use super::tenants::TenantParam;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody, Message, Problem};
use crate::extract::ApiBody;
use crate::tenant::Tenant;
use crate::throttle::Source;
use crate::{ApiJson, AppState};

/// The largest file the verification route reads: sealed documents are
/// small; anything near this is not one.
pub(crate) const MAX_VERIFY_BYTES: usize = 20 * 1024 * 1024;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Workflow(e) => e.into(),
            StoreError::BadEntries(problems) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_document_fields",
                "文书字段有误",
                "The document's fields are wrong",
            )
            .with_problems(
                problems
                    .into_iter()
                    .map(|(field, message)| Problem {
                        row: None,
                        field: Some(field),
                        message: Message::of(&message),
                    })
                    .collect(),
            ),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

fn sealing(state: &AppState) -> Result<&crate::SealingSettings, ApiError> {
    state.sealing().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "documents_unavailable",
            "未配置文书签章",
            "Sealed documents are not configured",
        )
    })
}

fn platform_key(state: &AppState) -> Result<Arc<civitas_crypto::sm2::PrivateKey>, ApiError> {
    state
        .auth()
        .map(|auth| auth.platform_key.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "documents_unavailable",
                "未配置平台密钥",
                "No platform key is configured",
            )
        })
}

/// A kind of document a case may have.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentKind {
    /// 文书类型 / The kind (the path segment to issue it).
    pub(crate) kind: String,
    /// 名称 / Its name.
    pub(crate) name: String,
    /// 英文名称 / Its English name.
    pub(crate) name_en: String,
    /// 出具时填写的字段 / What the issuing officer enters.
    pub(crate) fields: Vec<Field>,
    /// 已出具 / The issued document, when it was.
    pub(crate) issued: Option<IssuedDocument>,
}

/// A case's documents.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseDocuments {
    /// 办件是否已办结（已办结才能出具）/ Whether the case is closed (documents are issued then).
    pub(crate) closed: bool,
    /// 文书 / Each kind the case's service has, issued or not.
    pub(crate) kinds: Vec<DocumentKind>,
}

/// The kinds of document the case `id` may have and those issued, for
/// `caller` (`case.read`; applicants: their own cases and only what was
/// issued), as the API and the faces read them.
pub(crate) async fn documents_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<CaseDocuments, ApiError> {
    let (_, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let issued = seals::issued_for_case(&mut tx, &case.id).await?;
    tx.rollback().await?;
    let templates = match state.sealing() {
        Some(sealing) => sealing
            .templates
            .for_service(&case.service, &case.tenant_path)
            .into_iter()
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let applicant = super::cases::applicant_kind(caller).is_some();
    let mut kinds: Vec<DocumentKind> = templates
        .iter()
        .map(|t| DocumentKind {
            kind: t.kind.clone(),
            name: t.name.clone(),
            name_en: t.name_en.clone(),
            fields: t.fields.clone(),
            issued: issued.iter().find(|d| d.kind == t.kind).cloned(),
        })
        .collect();
    // A template removed since still leaves its issued documents.
    for document in &issued {
        if !kinds.iter().any(|k| k.kind == document.kind) {
            kinds.push(DocumentKind {
                kind: document.kind.clone(),
                name: document.name.clone(),
                name_en: document.name.clone(),
                fields: Vec::new(),
                issued: Some(document.clone()),
            });
        }
    }
    if applicant {
        kinds.retain(|k| k.issued.is_some());
    }
    Ok(CaseDocuments {
        closed: case.state == CaseState::Closed,
        kinds,
    })
}

/// The case's official documents: each kind its service has (with the
/// fields an officer enters to issue it) and what was issued — number,
/// SM3, seal, who and when (`case.read`; applicants see what was issued
/// for their own cases).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/issued-documents", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    responses(
        (status = 200, description = "文书 / The case's documents", body = CaseDocuments),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody)
    ))]
pub(crate) async fn case_documents(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
) -> Result<Json<CaseDocuments>, ApiError> {
    Ok(Json(
        documents_for(&state, &caller, &tenant.path, &id).await?,
    ))
}

/// A document kind of a case in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KindParam {
    /// 办件编号 / The case id.
    id: String,
    /// 文书类型 / The document kind, e.g. `penalty-decision`.
    #[param(example = "penalty-decision")]
    kind: String,
}

/// What the issuing officer enters.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    /// 字段 / The template's fields by name, e.g. `{"fine_yuan": 5000}`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"fine_yuan": 5000}))]
    pub(crate) fields: BTreeMap<String, Value>,
}

fn written(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(seals::written_date)
        .unwrap_or_default()
}

async fn applicant_name(state: &AppState, case: &Case) -> Result<Option<String>, ApiError> {
    let Some(account) = &case.applicant else {
        return Ok(None);
    };
    let names = civitas_identity::usernames(state.db(), std::slice::from_ref(account)).await?;
    let Some(username) = names.get(account) else {
        return Ok(None);
    };
    Ok(civitas_identity::find_account(state.db(), username)
        .await?
        .map(|a| a.display_name))
}

async fn fonts(state: &AppState) -> Result<Fonts, ApiError> {
    let sealing = sealing(state)?;
    if let Some(fonts) = sealing.fonts.get() {
        return Ok(fonts.clone());
    }
    let dir = sealing.fonts_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || Fonts::load(&dir))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(StoreError::Seal)?;
    Ok(sealing.fonts.get_or_init(|| loaded).clone())
}

/// `caller` issues the document `kind` of the closed case `id` with what
/// they entered, as the API and the workbench issue.
pub(crate) async fn issue_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    kind: &str,
    body: &IssueBody,
) -> Result<IssuedDocument, ApiError> {
    if super::cases::applicant_kind(caller).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "申请人不能出具文书",
            "Applicants do not issue documents",
        ));
    }
    // Issuing is its own permission, decided in the caller's lines at the
    // place the request names; the case is read with that decision.
    let workflow = super::cases::workflow(state)?;
    let (scope, viewer) = case_scope(state, caller, tenant, None, "document.issue")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let case = workflow.get(&mut tx, &viewer, id).await?;
    tx.rollback().await?;
    let sealing = sealing(state)?;
    let template: Template = sealing
        .templates
        .resolve(&case.service, kind, &case.tenant_path)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "document_kind_not_found",
                format!("该办件的服务没有文书类型 {kind}"),
                format!("The case's service has no document kind {kind}"),
            )
        })?;
    let keyring = state.keyring()?;
    let fonts = fonts(state).await?;
    let input_schema = state.modules().ok().and_then(|modules| {
        modules
            .runtime
            .catalog()
            .service(&case.service)
            .map(|s| s.input_schema.clone())
    });
    let request = IssueRequest {
        template: &template,
        case: &case,
        input_schema: input_schema.as_ref(),
        applicant: applicant_name(state, &case).await?,
        entries: &body.fields,
        filed_on: written(case.created_at),
        closed_on: (case.state == CaseState::Closed).then(|| written(case.updated_at)),
    };
    let issuer = Issuer {
        fonts: &fonts,
        documents: state.documents()?,
        keyring,
        verify_url: &sealing.verify_url,
    };
    let now = now(&workflow);
    let (issued, _) = seals::issue(
        state.db(),
        &scope,
        &issuer,
        caller.username(),
        &request,
        now,
    )
    .await?;
    Ok(issued)
}

fn now(workflow: &Workflow) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(workflow.clock().now_micros()).unwrap_or_else(Utc::now)
}

/// Issues an official document of a closed case (办结): the service's
/// template for the case's place filled from the case and what the officer
/// enters (checked: every field, amounts within the bounds the case's
/// module answers give), numbered (文号) per place, kind and year,
/// rendered as a GB/T 9704 PDF with Chinese fonts embedded, sealed with the
/// nearest active seal of the case's line (GB/T 38540 SM2 signature), kept
/// by its SM3 and recorded with the case and in the audit log
/// (`document.issue` in the case's line). A document is issued once.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/issued-documents/{kind}", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam, KindParam),
    request_body = IssueBody,
    responses(
        (status = 201, description = "已出具 / Issued", body = IssuedDocument),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户、办件或文书类型不存在 / No such tenant, case or document kind", body = ErrorBody),
        (status = 409, description = "办件未办结、已出具、没有有效印章或印章已过期 / The case is not closed, the document was issued, or no seal is active", body = ErrorBody),
        (status = 422, description = "字段有误或办件缺少内容 / Fields wrong or the case lacks values", body = ErrorBody),
        (status = 503, description = "未配置文书签章或缺少字体 / Documents not configured or fonts missing", body = ErrorBody)
    ))]
pub(crate) async fn issue_document(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(KindParam { id, kind }): Path<KindParam>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<IssuedDocument>), ApiError> {
    let issued = issue_in(&state, &caller, &tenant.path, &id, &kind, &body).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// The sealed file of the document `kind` of the case `id` and its record,
/// for `caller` (`case.read`; applicants: their own cases).
pub(crate) async fn issued_file_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    kind: &str,
) -> Result<(IssuedDocument, Bytes), ApiError> {
    let (_, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let issued = seals::issued_for_case(&mut tx, &case.id).await?;
    tx.rollback().await?;
    let document = issued.into_iter().find(|d| d.kind == kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "document_not_issued",
            "该办件尚未出具此文书",
            "The case has no such issued document",
        )
    })?;
    let bytes = state
        .documents()?
        .get(&document.sm3)
        .await
        .map_err(super::cases::document_error)?;
    Ok((document, bytes))
}

/// A sealed PDF as a download named by its number.
pub(crate) fn pdf_response(document: &IssuedDocument, bytes: Bytes) -> Response {
    let name = format!("{}-{}.pdf", document.name, document.number);
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                crate::export::attachment("document.pdf", &name),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (
                header::HeaderName::from_static("x-document-sm3"),
                document.sm3.clone(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Downloads an issued document: the sealed PDF as kept, checked against
/// its SM3 (`case.read`; applicants: their own cases).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/issued-documents/{kind}/content", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam, KindParam),
    responses(
        (status = 200, description = "盖章的 PDF / The sealed PDF", content_type = "application/pdf"),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "办件或文书不存在 / No such case or issued document", body = ErrorBody)
    ))]
pub(crate) async fn download_issued(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(KindParam { id, kind }): Path<KindParam>,
) -> Result<Response, ApiError> {
    let (document, bytes) = issued_file_for(&state, &caller, &tenant.path, &id, &kind).await?;
    Ok(pdf_response(&document, bytes))
}

/// The seals of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SealList {
    /// 印章 / Active first, newest first.
    pub(crate) seals: Vec<SealRecord>,
}

/// The seals of `tenant`'s subtree, for `caller` (`seal.manage`).
pub(crate) async fn seals_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
) -> Result<Vec<SealRecord>, ApiError> {
    let scope = caller.authorize_duty(state, tenant, civitas_authz::NO_LINE, "seal.manage")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let list = seals::seals(&mut tx).await?;
    tx.rollback().await?;
    Ok(list)
}

/// The seals of the tenant's subtree, never their keys (`seal.manage`:
/// the security administrator's).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/seals", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam),
    responses(
        (status = 200, description = "印章 / The seals", body = SealList),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody)
    ))]
pub(crate) async fn list_seals(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
) -> Result<Json<SealList>, ApiError> {
    Ok(Json(SealList {
        seals: seals_in(&state, &caller, &tenant.path).await?,
    }))
}

/// A seal to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MakeSeal {
    /// 条线 / The line it seals for.
    #[schema(example = "market-regulation")]
    pub(crate) line: String,
    /// 印章名称（单位全称）/ The name it shows: the bureau's full name.
    #[schema(example = "上海市浦东新区市场监督管理局")]
    pub(crate) name: String,
    /// 有效年数（1–10，默认 5）/ Years valid (1–10, default 5).
    #[serde(default = "five")]
    #[schema(minimum = 1, maximum = 10, example = 5)]
    pub(crate) years: u32,
}

fn five() -> u32 {
    5
}

/// `caller` makes the seal of a line at `tenant` (`seal.manage`).
pub(crate) async fn make_seal_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    body: &MakeSeal,
) -> Result<SealRecord, ApiError> {
    let scope = caller.authorize_duty(state, tenant, civitas_authz::NO_LINE, "seal.manage")?;
    let tree = state.modules()?.tree.current();
    if !tree.lines().iter().any(|line| line.code == body.line) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_line",
            format!("没有条线 {}", body.line),
            format!("No such line: {}", body.line),
        ));
    }
    let platform_key = platform_key(state)?;
    Ok(seals::make(
        state.db(),
        state.keyring()?,
        &scope,
        &platform_key,
        caller.username(),
        &NewSealRequest {
            line: body.line.clone(),
            name: body.name.clone(),
            years: body.years,
        },
        Utc::now(),
    )
    .await?)
}

/// Makes the tenant's electronic seal for a line (电子印章): a new SM2
/// key, kept sealed with the tenant's data key; a signer certificate and
/// the seal (GB/T 38540 SESeal with its picture) made by the platform's
/// root. One active seal per place and line (`seal.manage`; audited
/// `seal.make`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/seals", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = MakeSeal,
    responses(
        (status = 201, description = "已制章 / Made", body = SealRecord),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 409, description = "该条线已有有效印章 / The line has an active seal here", body = ErrorBody),
        (status = 422, description = "名称、条线或有效期有误 / Bad name, line or validity", body = ErrorBody)
    ))]
pub(crate) async fn make_seal(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(body): ApiJson<MakeSeal>,
) -> Result<(StatusCode, Json<SealRecord>), ApiError> {
    let made = make_seal_in(&state, &caller, &tenant.path, &body).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// A seal in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct SealParam {
    /// 印章编号 / The seal's id.
    id: String,
}

/// `caller` revokes the seal `id` in `tenant`'s subtree (`seal.manage`).
pub(crate) async fn revoke_seal_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<SealRecord, ApiError> {
    let scope = caller.authorize_duty(state, tenant, civitas_authz::NO_LINE, "seal.manage")?;
    Ok(seals::revoke(state.db(), &scope, caller.username(), id, Utc::now()).await?)
}

/// Revokes a seal: it signs nothing more; what it sealed still verifies
/// and the verification page says it was revoked since (`seal.manage`;
/// audited `seal.revoke`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/seals/{id}/revoke", tag = "documents",
    security(("bearer" = [])),
    params(TenantParam, SealParam),
    responses(
        (status = 200, description = "已吊销 / Revoked", body = SealRecord),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "印章不存在 / No such seal", body = ErrorBody)
    ))]
pub(crate) async fn revoke_seal(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(SealParam { id }): Path<SealParam>,
) -> Result<Json<SealRecord>, ApiError> {
    Ok(Json(
        revoke_seal_in(&state, &caller, &tenant.path, &id).await?,
    ))
}

/// What verifying a file found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Verification {
    /// 签章有效 / The seal verifies against the platform's root.
    pub(crate) valid: bool,
    /// 不通过的原因 / Why not, when it does not.
    pub(crate) reason: Option<Message>,
    /// 印章名称 / The seal's name.
    pub(crate) seal_name: Option<String>,
    /// 印章所属租户（证书载明）/ The tenant the seal belongs to, as its certificate says.
    pub(crate) seal_tenant: Option<String>,
    /// 印章所属条线 / The seal's line.
    pub(crate) seal_line: Option<String>,
    /// 签章时间 / When it was sealed, RFC 3339.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(crate) signed_at: Option<DateTime<Utc>>,
    /// 文件 SM3 / The file's SM3, hex.
    pub(crate) file_sm3: String,
    /// 本平台出具的记录 / The platform's record of it, when this platform issued it.
    pub(crate) issued: Option<IssuedRecord>,
    /// 印章已吊销的时间 / When its seal was revoked since, if it was.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(crate) seal_revoked_at: Option<DateTime<Utc>>,
}

/// What the platform recorded of an issued document, as the public sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedRecord {
    /// 文书名称 / Its name.
    pub(crate) name: String,
    /// 文号 / Its number.
    pub(crate) number: String,
    /// 出具时间 / When, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub(crate) issued_at: DateTime<Utc>,
}

/// Verifies `bytes` as a sealed document of this platform and looks up
/// its record, as the API and the public page verify.
pub(crate) async fn verify_in(state: &AppState, bytes: Bytes) -> Result<Verification, ApiError> {
    let root = platform_key(state)?.public_key();
    let checked = tokio::task::spawn_blocking(move || {
        let result = civitas_seal::verify_pdf(&bytes, &root);
        (result, hex::encode(civitas_crypto::sm3::digest(&bytes)))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let (result, file_sm3) = checked;
    let refused = |reason: Message, file_sm3: String| Verification {
        valid: false,
        reason: Some(reason),
        seal_name: None,
        seal_tenant: None,
        seal_line: None,
        signed_at: None,
        file_sm3,
        issued: None,
        seal_revoked_at: None,
    };
    match result {
        Ok(Verified { signature, .. }) => {
            // The seal's own record, by the id its signature names: a
            // signature made after the seal was revoked (a leaked key) is
            // not valid, whatever else holds.
            let seal_revoked_at = seals::seal_revoked_at(state.db(), &signature.seal_code).await?;
            if seal_revoked_at.is_some_and(|at| signature.signed_at >= at) {
                return Ok(refused(
                    Message::of(
                        &"印章吊销后盖的章，无效 / sealed after its seal was revoked: not valid",
                    ),
                    file_sm3,
                ));
            }
            let issued = seals::find_issued(state.db(), &file_sm3).await?;
            Ok(Verification {
                valid: true,
                reason: None,
                seal_name: Some(signature.seal_name),
                seal_tenant: Some(signature.tenant),
                seal_line: Some(signature.line),
                signed_at: Some(signature.signed_at),
                file_sm3,
                issued: issued.map(|d| IssuedRecord {
                    name: d.name,
                    number: d.number,
                    issued_at: d.issued_at,
                }),
                seal_revoked_at,
            })
        }
        Err(civitas_seal::SealError::Refused(reason)) => {
            Ok(refused(Message::of(&reason), file_sm3))
        }
        Err(e) => Err(StoreError::Seal(e).into()),
    }
}

/// Verifies a sealed document (the PDF as the body): the seal's SM2
/// signature over every byte but its own (GB/T 38540), made by this
/// platform's root, and whether the platform issued that very file (by
/// its SM3). For anyone: a document's reader checks it here or with
/// `civitas doc verify`. A file that does not verify is a 200 with
/// `valid: false` and the reason.
#[utoipa::path(post, path = "/api/v1/documents/verify", tag = "documents",
    request_body(description = "文书文件本身 / The document file itself",
        content(
            (Vec<u8> = "application/pdf"),
            (Vec<u8> = "application/octet-stream")
        )),
    responses(
        (status = 200, description = "核验结果 / The verdict", body = Verification),
        (status = 400, description = "没有文件 / No file sent", body = ErrorBody),
        (status = 413, description = "超过 20 MB / Larger than 20 MB", body = ErrorBody),
        (status = 415, description = "不是 PDF 或字节流 / Neither application/pdf nor application/octet-stream", body = ErrorBody),
        (status = 429, description = "本地址核验过于频繁（每分钟 30 份）/ Too many verifications from this address (30 a minute)", body = ErrorBody)
    ))]
pub(crate) async fn verify_document(
    State(state): State<AppState>,
    Source(source): Source,
    file: ApiBody,
) -> Result<Json<Verification>, ApiError> {
    // Public work, counted per address whatever the verdict.
    let _counted = state.throttle().verification(source)?;
    let media_type = file.content_type.split(';').next().unwrap_or("").trim();
    if !matches!(media_type, "application/pdf" | "application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "请以 application/pdf 发送文书文件本身",
            "Send the document file itself as application/pdf",
        ));
    }
    if file.bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "document_missing",
            "请求体为空：请发送要核验的文书文件",
            "The body is empty: send the document to verify",
        ));
    }
    Ok(Json(verify_in(&state, file.bytes).await?))
}

/// The platform's root certificate (X.509, SM2, DER): the trust anchor of
/// every seal, for independent verifiers.
#[utoipa::path(get, path = "/api/v1/documents/root-certificate", tag = "documents",
    responses(
        (status = 200, description = "根证书 / The root certificate", content_type = "application/pkix-cert")
    ))]
pub(crate) async fn root_certificate(State(state): State<AppState>) -> Result<Response, ApiError> {
    let key = platform_key(&state)?;
    let der = civitas_seal::root_certificate(&key).map_err(StoreError::Seal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-cert".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                crate::export::attachment("civitas-root.cer", "civitas-root.cer"),
            ),
        ],
        der,
    )
        .into_response())
}
