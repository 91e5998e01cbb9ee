//! The governance console: `/console/` (the tenant tree) and, at each
//! tenant, `/console/t/{path}/…` — its overview, accounts, grants, module
//! bindings and audit log (the same tenant-prefix layer resolves the path).
//!
//! Each section shows only to whom its permission is granted, and every
//! change goes through the same function the API's route calls, so a
//! refusal here (三员分立, a self-grant, a failed conformance check) is the
//! API's refusal, shown in words. A change that worked redirects to the
//! section (`?done=…`), except where a one-time password must be shown
//! once: that answer is the page itself.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use civitas_identity::{AccountCursor, AccountFilter, AccountKind, AccountState};
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::console::{
    AccountDraft, AccountRow, Accounts, Audit, AuditRow, BindChoice, BindForm, BindingRow,
    Bindings, ChainStatus, ConformanceView, DashboardView, Figures, GrantRow, Grants, ImportView,
    ImportedAccount, ModuleRow, Modules, MonthBar, Outcome, Overview, Place, PlaceRow, RowProblem,
    Section, TreeNode,
};
use civitas_web::guide::Bilingual;
use serde::Deserialize;

use super::session::{FormToken, PageVisitor};
use super::{PageLang, PortalTenant, portal_home, signed_in_staff, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use crate::routes::accounts::{
    AccountChange, CreateAccount, KindName, accounts_in, administer, create_in,
};
use crate::routes::audit::{audit_in, verify_in};
use crate::routes::dashboard::{DEFAULT_MONTHS, dashboard_in, since};
use crate::routes::grants::{grant_in, grants_in, revoke_in};
use crate::routes::modules::{
    PutBinding, bind_in, bindings_in, conformance_in, published, rollback_in,
};

const HOME: &str = "/console/";
/// Rows per page of the accounts, grants and audit tables.
const ROWS_PER_PAGE: u32 = 50;

/// The signed-in staff member, or the answer for anyone else.
fn admin(lang: PageLang, who: &PageVisitor, here: &str) -> Result<Caller, Box<Response>> {
    signed_in_staff(lang, who, here, Msg::Console, Msg::ConsoleStaffOnly)
}

/// A tenant's console page of `section`.
fn section_href(tenant: &TenantRecord, section: Section) -> String {
    let base = format!("/console/t/{}/", tenant.slug_path);
    match section {
        Section::Overview => base,
        Section::Accounts => format!("{base}accounts"),
        Section::Grants => format!("{base}grants"),
        Section::Bindings => format!("{base}bindings"),
        Section::Audit => format!("{base}audit"),
        Section::Dashboard => format!("{base}dashboard"),
        // Under `bindings` (a reserved word): the versions there are to bind.
        Section::Modules => format!("{base}bindings/modules"),
        Section::Seals => format!("{base}seals"),
    }
}

fn bilingual(tenant: &TenantRecord) -> Bilingual {
    Bilingual {
        zh: tenant.name.clone(),
        en: tenant.name_en.clone(),
    }
}

/// Whether `caller` may open `section` at `tenant` (an in-memory decision).
fn may_open(state: &AppState, caller: &Caller, tenant: &TenantRecord, section: Section) -> bool {
    let (line, action) = match section {
        Section::Overview => return true,
        Section::Accounts => (NO_LINE, "account.read"),
        Section::Grants => (NO_LINE, "grant.read"),
        Section::Bindings => (caller.line_for(None), "module.bind"),
        Section::Audit => (NO_LINE, "audit.read"),
        Section::Dashboard => (caller.line_for(None), "case.read"),
        Section::Modules => (caller.line_for(None), "module.bind"),
        Section::Seals => (NO_LINE, "seal.manage"),
    };
    caller.authorize(state, &tenant.path, line, action).is_ok()
}

/// Where `tenant`'s page of `current` sits, and the sections `caller` may
/// open there.
fn place(state: &AppState, caller: &Caller, tenant: &TenantRecord, current: Section) -> Place {
    let lineage = tenant.path.lineage();
    let ancestors = state
        .tenants()
        .records()
        .iter()
        .filter(|r| r.path != tenant.path && lineage.contains(&r.path))
        .map(|r| (bilingual(r), section_href(r, Section::Overview)))
        .collect();
    let sections = [
        Section::Overview,
        Section::Dashboard,
        Section::Accounts,
        Section::Grants,
        Section::Bindings,
        Section::Modules,
        Section::Seals,
        Section::Audit,
    ]
    .into_iter()
    .filter(|s| may_open(state, caller, tenant, *s))
    .map(|s| (s, section_href(tenant, s)))
    .collect();
    Place {
        name: bilingual(tenant),
        path: tenant.path.to_string(),
        ancestors,
        sections,
        current,
    }
}

/// Who is looking at which place's console.
struct SectionVisit<'a> {
    state: &'a AppState,
    lang: PageLang,
    who: &'a PageVisitor,
    token: &'a FormToken,
    caller: &'a Caller,
    tenant: &'a TenantRecord,
}

/// The frame (titled by the section) and the place head of `section`'s
/// page: what every section page shares.
fn section_page(visit: SectionVisit<'_>, section: Section) -> (civitas_web::layout::Frame, Place) {
    let here = section_href(visit.tenant, section);
    let frame = visit.lang.frame(
        &here,
        section.label().text(visit.lang.lang).to_owned(),
        None,
        visitor(visit.who, visit.token, &here, None),
    );
    (
        frame,
        place(visit.state, visit.caller, visit.tenant, section),
    )
}

/// The level's name in `lang`, from the tree's level definitions.
fn level_name(state: &AppState, tenant: &TenantRecord, lang: PageLang) -> String {
    state
        .modules()
        .ok()
        .and_then(|m| {
            m.tree
                .current()
                .level(&tenant.level)
                .map(|l| lang.lang.pick(&l.name_zh, &l.name_en).to_owned())
        })
        .unwrap_or_else(|| tenant.level.to_string())
}

/// `at` as Beijing time, to the second.
fn beijing(at: DateTime<Utc>) -> String {
    chrono::FixedOffset::east_opt(8 * 3600).map_or_else(
        || at.to_rfc3339(),
        |zone| {
            at.with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// The page saying a section is not the visitor's, or could not be read
/// (the visitor still shown as signed in).
fn refused(
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    here: &str,
    error: &ApiError,
) -> Response {
    let (title, text) = match error.status {
        StatusCode::FORBIDDEN => (Msg::NotAllowedTitle, Msg::NotAllowedText),
        StatusCode::NOT_FOUND => (Msg::NotFoundTitle, Msg::NotFoundText),
        _ => (Msg::UnavailableTitle, Msg::UnavailableText),
    };
    let frame = lang.frame(
        here,
        title.text(lang.lang).to_owned(),
        None,
        visitor(who, token, here, None),
    );
    lang.answer(
        error.status,
        civitas_web::layout::problem(&frame, title, text, None),
    )
}

/// How a refused change reads on the page.
fn refusal(error: &ApiError) -> Outcome {
    let text = (error.message.zh.clone(), error.message.en.clone());
    if error.code == "separation_of_duties" {
        Outcome::SeparationOfDuties(text)
    } else {
        Outcome::Refused(text)
    }
}

/// The form was not one of ours (no or a stale token): nothing is done.
fn forged() -> (StatusCode, Outcome) {
    (
        StatusCode::FORBIDDEN,
        Outcome::Refused(Msg::FormExpired.both()),
    )
}

/// A section's `?done=` after a change that worked.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}

impl Done {
    fn outcome(&self) -> Option<Outcome> {
        let msg = match self.done.as_deref()? {
            "disabled" => Msg::AccountDisabledNow,
            "enabled" => Msg::AccountEnabledNow,
            "unlocked" => Msg::AccountUnlockedNow,
            "unchanged" => Msg::NothingChanged,
            "granted" => Msg::GrantedNow,
            "held" => Msg::AlreadyGranted,
            "revoked" => Msg::RevokedNow,
            "bound" => Msg::BoundNow,
            "rolled-back" => Msg::RolledBackNow,
            "seal-made" => Msg::SealMadeNow,
            "seal-revoked" => Msg::SealRevokedNow,
            _ => return None,
        };
        Some(Outcome::Done(msg.both()))
    }
}

fn done(tenant: &TenantRecord, section: Section, what: &str) -> Response {
    Redirect::to(&format!("{}?done={what}", section_href(tenant, section))).into_response()
}

// ------------------------------------------------------------------ tree

/// `GET /console/`: the whole tenant tree, any depth.
pub(super) async fn home(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
) -> Response {
    if let Err(answer) = admin(lang, &who, HOME) {
        return *answer;
    }
    let records = state.tenants().records().to_vec();
    fn nest(
        state: &AppState,
        lang: PageLang,
        records: &[std::sync::Arc<TenantRecord>],
        parent: Option<&civitas_tenancy::TenantPath>,
    ) -> Vec<TreeNode> {
        records
            .iter()
            .filter(|r| r.parent.as_ref() == parent)
            .map(|r| TreeNode {
                name: bilingual(r),
                level: level_name(state, r, lang),
                path: r.path.to_string(),
                href: section_href(r, Section::Overview),
                children: nest(state, lang, records, Some(&r.path)),
            })
            .collect()
    }
    let roots = nest(&state, lang, &records, None);
    let frame = lang.frame(
        HOME,
        Msg::Console.text(lang.lang).to_owned(),
        None,
        visitor(&who, &token, HOME, None),
    );
    lang.answer(StatusCode::OK, civitas_web::console::home(&frame, &roots))
}

/// `GET /console/t/{path}/`: a tenant, its lines and the places below it.
pub(super) async fn overview(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Overview);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let place = place(&state, &caller, &tenant, Section::Overview);
    let children = state
        .tenants()
        .records()
        .iter()
        .filter(|r| r.parent.as_ref() == Some(&tenant.path))
        .map(|r| (bilingual(r), section_href(r, Section::Overview)))
        .collect();
    let view = Overview {
        level: level_name(&state, &tenant, lang),
        lines: tenant.lines.clone(),
        children,
        portal: portal_home(&tenant),
    };
    let frame = lang.frame(
        &here,
        lang.lang.pick(&tenant.name, &tenant.name_en).to_owned(),
        None,
        visitor(&who, &token, &here, None),
    );
    lang.answer(
        StatusCode::OK,
        civitas_web::console::overview(&frame, &place, &view),
    )
}

// -------------------------------------------------------------- accounts

/// The accounts page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AccountsQuery {
    after: Option<String>,
    #[serde(flatten)]
    done: Done,
}

/// What the page shows besides the list.
#[derive(Default)]
struct AccountsExtra {
    outcome: Option<Outcome>,
    one_time: Option<(String, String)>,
    after: Option<AccountCursor>,
    draft: AccountDraft,
    import_report: Option<ImportView>,
    disable_draft: Option<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn render_accounts(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    caller: &Caller,
    tenant: &TenantRecord,
    extra: AccountsExtra,
    status: StatusCode,
) -> Response {
    let here = section_href(tenant, Section::Accounts);
    let page = match accounts_in(
        state,
        caller,
        tenant,
        &AccountFilter::default(),
        extra.after.as_ref(),
        ROWS_PER_PAGE,
    )
    .await
    {
        Ok(page) => page,
        Err(e) => return refused(lang, who, token, &here, &e),
    };
    let administers = caller
        .authorize(state, &tenant.path, NO_LINE, "account.administer")
        .is_ok();
    let rows = page
        .accounts
        .into_iter()
        .map(|a| AccountRow {
            actions: administers.then(|| format!("{here}/{}", a.username)),
            kind: match a.kind {
                AccountKind::Staff => Msg::KindStaff,
                AccountKind::Citizen => Msg::KindCitizen,
                AccountKind::Enterprise => Msg::KindEnterprise,
                AccountKind::Developer => Msg::KindDeveloper,
                AccountKind::Service => Msg::KindService,
            },
            state: match a.state {
                AccountState::Disabled => Msg::AccountDisabled,
                AccountState::Locked => Msg::AccountLocked,
                AccountState::Pending => Msg::AccountPending,
                AccountState::Active => Msg::AccountActive,
            },
            locked_until: a.locked_until.map(beijing),
            username: a.username,
            display_name: a.display_name,
            tenant: a.tenant_path,
            line: a.line,
            roles: a.roles,
        })
        .collect();
    let next = page.next.map(|c| {
        format!(
            "{here}?after={}",
            crate::paging::cursor(&[c.tenant_path, c.username])
        )
    });
    let view = Accounts {
        rows,
        export: Some(format!("{here}/export")),
        next,
        create: administers.then(|| here.clone()),
        lines: tenant.lines.clone(),
        csrf: token.0.clone(),
        outcome: extra.outcome,
        one_time: extra.one_time,
        draft: extra.draft,
        import: administers.then(|| format!("/console/t/{}/account-imports", tenant.slug_path)),
        import_report: extra.import_report,
        disable_draft: extra.disable_draft,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state,
            lang,
            who,
            token,
            caller,
            tenant,
        },
        Section::Accounts,
    );
    lang.answer(
        status,
        civitas_web::console::accounts(&frame, &place, &view),
    )
}

/// `GET /console/t/{path}/accounts`: the subtree's accounts (`account.read`).
pub(super) async fn accounts(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<AccountsQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Accounts);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let after = query.after.as_deref().and_then(|text| {
        let [tenant_path, username] = crate::paging::cursor_fields::<2>(text).ok()?;
        AccountCursor::new(tenant_path, username)
    });
    let extra = AccountsExtra {
        outcome: query.done.outcome(),
        after,
        ..AccountsExtra::default()
    };
    render_accounts(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant.0,
        extra,
        StatusCode::OK,
    )
    .await
}

/// The new-account form.
#[derive(Debug, Deserialize)]
pub(super) struct NewAccountForm {
    csrf: String,
    username: String,
    display_name: String,
    kind: String,
    #[serde(default)]
    line: String,
    #[serde(default)]
    employee_no: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `POST /console/t/{path}/accounts`: creates an account
/// (`account.administer`) and shows its one-time password once.
pub(super) async fn create_account(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<NewAccountForm>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Accounts);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let kind = match form.kind.as_str() {
        "staff" => Some(KindName::Staff),
        "developer" => Some(KindName::Developer),
        "service" => Some(KindName::Service),
        _ => None,
    };
    let draft = AccountDraft {
        username: form.username.clone(),
        display_name: form.display_name.clone(),
        kind: form.kind.clone(),
        line: form.line.clone(),
        employee_no: form.employee_no.clone(),
        position: form.position.clone(),
        phone: form.phone.clone(),
        email: form.email.clone(),
    };
    let (status, extra) = match (token.check(&form.csrf), kind) {
        (false, _) => {
            let (status, outcome) = forged();
            (status, (Some(outcome), None))
        }
        (true, None) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            (Some(Outcome::Refused(Msg::FormExpired.both())), None),
        ),
        (true, Some(kind)) => {
            let request = CreateAccount {
                username: form.username.trim().to_owned(),
                kind,
                line: given(&form.line),
                display_name: form.display_name.trim().to_owned(),
                phone: given(&form.phone),
                email: given(&form.email),
                employee_no: given(&form.employee_no),
                position: given(&form.position),
            };
            match create_in(&state, &caller, &tenant, request).await {
                Ok(created) => (
                    StatusCode::CREATED,
                    (
                        Some(Outcome::Done(Msg::AccountCreated.both())),
                        created
                            .one_time_password
                            .map(|p| (created.account.username.clone(), p.to_string())),
                    ),
                ),
                Err(e) => (e.status, (Some(refusal(&e)), None)),
            }
        }
    };
    let extra = AccountsExtra {
        // A created account's form starts blank; a refused one keeps what
        // was typed.
        draft: if status == StatusCode::CREATED {
            AccountDraft::default()
        } else {
            draft
        },
        outcome: extra.0,
        one_time: extra.1,
        ..AccountsExtra::default()
    };
    render_accounts(&state, lang, &who, &token, &caller, &tenant, extra, status).await
}

/// An action on one account.
#[derive(Debug, Deserialize)]
pub(super) struct AccountActionForm {
    csrf: String,
    #[serde(rename = "do")]
    act: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/t/{path}/accounts/{username}`: disable, enable, unlock or
/// reset the password (`account.administer`).
pub(super) async fn account_action(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, username)): Path<(String, String)>,
    Form(form): Form<AccountActionForm>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Accounts);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let change = match form.act.as_str() {
        "disable" => Some(AccountChange::Disable(&form.reason)),
        "enable" => Some(AccountChange::Enable),
        "unlock" => Some(AccountChange::Unlock),
        "reset" => Some(AccountChange::ResetPassword),
        _ => None,
    };
    let (status, outcome, one_time) = match (token.check(&form.csrf), change) {
        (false, _) => {
            let (status, outcome) = forged();
            (status, outcome, None)
        }
        (true, None) => (
            StatusCode::BAD_REQUEST,
            Outcome::Refused(Msg::FormExpired.both()),
            None,
        ),
        (true, Some(change)) => match administer(&state, &caller, &tenant, &username, change).await
        {
            Ok(done_) => match (change, done_.one_time_password) {
                // The new password is shown on this answer, once.
                (AccountChange::ResetPassword, Some(password)) => (
                    StatusCode::OK,
                    Outcome::Done(Msg::PasswordResetNow.both()),
                    Some((username.clone(), password.to_string())),
                ),
                _ => {
                    let what = match (done_.changed, change) {
                        (false, _) => "unchanged",
                        (true, AccountChange::Disable(_)) => "disabled",
                        (true, AccountChange::Enable) => "enabled",
                        (true, _) => "unlocked",
                    };
                    return done(&tenant, Section::Accounts, what);
                }
            },
            Err(e) => (e.status, refusal(&e), None),
        },
    };
    let refused_disable = status != StatusCode::OK && form.act == "disable";
    let extra = AccountsExtra {
        outcome: Some(outcome),
        one_time,
        disable_draft: refused_disable.then(|| (username.clone(), form.reason.clone())),
        ..AccountsExtra::default()
    };
    render_accounts(&state, lang, &who, &token, &caller, &tenant, extra, status).await
}

fn row_problem(p: &crate::error::Problem) -> RowProblem {
    RowProblem {
        row: p.row,
        column: p.field.clone(),
        text: (p.message.zh.clone(), p.message.en.clone()),
    }
}

/// `POST /console/t/{path}/account-imports`: checks a staff roster
/// (multipart: the form token, `dry_run`, the file) or imports it — every
/// account or none, each one-time password shown once on this answer.
pub(super) async fn import_roster(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Accounts);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (mut genuine, mut dry_run, mut file) = (false, false, None);
    let mut unreadable = multipart.is_err();
    if let Ok(mut multipart) = multipart {
        loop {
            match multipart.next_field().await {
                Ok(Some(field)) => match field.name() {
                    Some("csrf") => genuine = token.check(&field.text().await.unwrap_or_default()),
                    Some("dry_run") => dry_run = true,
                    // Nothing of the file is read unless the token came first.
                    Some("file") if genuine => {
                        let content_type = field
                            .content_type()
                            .unwrap_or("application/octet-stream")
                            .to_owned();
                        match field.bytes().await {
                            Ok(bytes) => file = Some((content_type, bytes)),
                            Err(_) => unreadable = true,
                        }
                    }
                    _ => {}
                },
                Ok(None) => break,
                Err(_) => {
                    unreadable = true;
                    break;
                }
            }
        }
    }
    let (status, extra) = match (genuine, file) {
        (false, _) => {
            let (status, outcome) = forged();
            (
                status,
                AccountsExtra {
                    outcome: Some(outcome),
                    ..AccountsExtra::default()
                },
            )
        }
        (true, None) => (
            StatusCode::BAD_REQUEST,
            AccountsExtra {
                outcome: Some(Outcome::Refused(if unreadable {
                    Msg::FormExpired.both()
                } else {
                    Msg::RosterFile.both()
                })),
                ..AccountsExtra::default()
            },
        ),
        (true, Some((content_type, bytes))) => {
            match crate::routes::account_imports::import_in(
                &state,
                &caller,
                &tenant,
                &content_type,
                &bytes,
                dry_run,
            )
            .await
            {
                Ok((status, report)) => (
                    status,
                    AccountsExtra {
                        import_report: Some(ImportView {
                            dry_run: report.dry_run,
                            rows: report.rows,
                            created: report.created,
                            problems: report.problems.iter().map(row_problem).collect(),
                            accounts: report
                                .accounts
                                .into_iter()
                                .map(|a| ImportedAccount {
                                    row: a.row,
                                    username: a.username,
                                    name: a.display_name,
                                    place: a.tenant,
                                    line: a.line,
                                    one_time_password: a.one_time_password,
                                })
                                .collect(),
                            ignored_columns: report.ignored_columns,
                        }),
                        ..AccountsExtra::default()
                    },
                ),
                Err(e) => {
                    // A rejected import names every bad row, as a dry run does.
                    let problems: Vec<RowProblem> = e.problems().iter().map(row_problem).collect();
                    (
                        e.status,
                        AccountsExtra {
                            outcome: Some(refusal(&e)),
                            import_report: (!problems.is_empty()).then(|| ImportView {
                                dry_run: true,
                                rows: 0,
                                created: 0,
                                problems,
                                accounts: Vec::new(),
                                ignored_columns: Vec::new(),
                            }),
                            ..AccountsExtra::default()
                        },
                    )
                }
            }
        }
    };
    render_accounts(&state, lang, &who, &token, &caller, &tenant, extra, status).await
}

// ---------------------------------------------------------------- grants

/// The grants page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct GrantsQuery {
    after: Option<String>,
    #[serde(flatten)]
    done: Done,
}

#[allow(clippy::too_many_arguments)]
async fn render_grants(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    caller: &Caller,
    tenant: &TenantRecord,
    after: Option<&str>,
    outcome: Option<Outcome>,
    draft: (String, String, String),
    status: StatusCode,
) -> Response {
    let here = section_href(tenant, Section::Grants);
    let after = after.and_then(|cursor| {
        let [t, line, role, account] = crate::paging::cursor_fields(cursor).ok()?;
        Some(civitas_authz::Grant {
            account,
            tenant: civitas_tenancy::TenantPath::parse(&t).ok()?,
            line,
            role,
        })
    });
    let (grants, next) = match grants_in(state, caller, tenant, after.as_ref(), ROWS_PER_PAGE).await
    {
        Ok(found) => found,
        Err(e) => return refused(lang, who, token, &here, &e),
    };
    let manages = caller
        .authorize(state, &tenant.path, NO_LINE, "grant.manage")
        .is_ok();
    let directory = state.tenants();
    let rows = grants
        .into_iter()
        .map(|g| {
            let at = directory.get(&g.tenant);
            GrantRow {
                tenant: at.map_or_else(
                    || Bilingual {
                        zh: g.tenant.clone(),
                        en: g.tenant.clone(),
                    },
                    |t| bilingual(t),
                ),
                // Revoked where it was made.
                revoke: (manages && at.is_some())
                    .then(|| at.map(|t| format!("{}/revoke", section_href(t, Section::Grants))))
                    .flatten(),
                granted: format!(
                    "{} · {}",
                    g.granted_by.unwrap_or_default(),
                    g.granted_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| beijing(t.with_timezone(&Utc)))
                        .unwrap_or_default()
                ),
                account: g.account,
                line: g.line,
                role: g.role,
            }
        })
        .collect();
    let roles = state
        .authorizer()
        .map(|a| {
            let mut roles: Vec<String> = a.permissions().roles().map(str::to_owned).collect();
            roles.sort();
            roles
        })
        .unwrap_or_default();
    let view = Grants {
        rows,
        next: next.map(|n| format!("{here}?after={n}")),
        grant: manages.then(|| here.clone()),
        roles,
        lines: tenant.lines.clone(),
        csrf: token.0.clone(),
        outcome,
        draft,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state,
            lang,
            who,
            token,
            caller,
            tenant,
        },
        Section::Grants,
    );
    lang.answer(status, civitas_web::console::grants(&frame, &place, &view))
}

/// `GET /console/t/{path}/grants`: the grants on the subtree (`grant.read`).
pub(super) async fn grants(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<GrantsQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Grants);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    render_grants(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant.0,
        query.after.as_deref(),
        query.done.outcome(),
        Default::default(),
        StatusCode::OK,
    )
    .await
}

/// The grant and revoke forms.
#[derive(Debug, Deserialize)]
pub(super) struct GrantForm {
    csrf: String,
    account: String,
    line: String,
    role: String,
}

/// `POST /console/t/{path}/grants`: grants a role (`grant.manage`); a
/// refusal by 三员分立 is shown as such.
pub(super) async fn grant(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<GrantForm>,
) -> Response {
    change_grant(state, lang, who, token, tenant, form, true).await
}

/// `POST /console/t/{path}/grants/revoke`: revokes a grant made at this
/// tenant (`grant.manage`).
pub(super) async fn revoke(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<GrantForm>,
) -> Response {
    change_grant(state, lang, who, token, tenant, form, false).await
}

async fn change_grant(
    state: AppState,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    form: GrantForm,
    granting: bool,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Grants);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (status, outcome) = if !token.check(&form.csrf) {
        forged()
    } else {
        let (account, line, role) = (form.account.trim(), form.line.trim(), form.role.trim());
        let result = if granting {
            grant_in(&state, &caller, &tenant, account, line, role)
                .await
                .map(|(_, created)| if created { "granted" } else { "held" })
        } else {
            revoke_in(&state, &caller, &tenant, account, line, role)
                .await
                .map(|()| "revoked")
        };
        match result {
            Ok(what) => return done(&tenant, Section::Grants, what),
            Err(e) => (e.status, refusal(&e)),
        }
    };
    render_grants(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        None,
        Some(outcome),
        if granting {
            (form.account, form.role, form.line)
        } else {
            Default::default()
        },
        status,
    )
    .await
}

// -------------------------------------------------------------- bindings

#[allow(clippy::too_many_arguments)]
async fn render_bindings(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    caller: &Caller,
    tenant: &TenantRecord,
    outcome: Option<Outcome>,
    draft: Option<BindDraft>,
    status: StatusCode,
) -> Response {
    let here = section_href(tenant, Section::Bindings);
    let found = match bindings_in(state, caller, tenant).await {
        Ok(found) => found,
        Err(e) => return refused(lang, who, token, &here, &e),
    };
    let Ok(modules) = state.modules() else {
        return refused(lang, who, token, &here, &ApiError::internal());
    };
    let service_name = |id: &str| {
        modules.runtime.service(id).map_or_else(
            |_| Bilingual {
                zh: id.to_owned(),
                en: id.to_owned(),
            },
            |s| Bilingual {
                zh: s.name.clone(),
                en: s.name_en.clone(),
            },
        )
    };
    let directory = state.tenants();
    let here_path = tenant.path.to_string();
    let rows = found
        .iter()
        .map(|b| BindingRow {
            service: service_name(&b.service),
            at: match &b.tenant {
                None => Msg::CityDefault.both().into(),
                Some(path) => directory.get(path).map_or_else(
                    || Bilingual {
                        zh: path.clone(),
                        en: path.clone(),
                    },
                    |t| bilingual(t),
                ),
            },
            stable: b.stable.as_ref().map(ToString::to_string),
            candidate: b
                .candidate
                .as_ref()
                .map(|c| (c.to_string(), b.rollout_percent)),
            revision: b.revision,
            updated: format!("{} · {}", b.updated_by, beijing(b.updated_at)),
            rollback: (b.tenant.as_deref() == Some(here_path.as_str())).then(|| {
                let (line, name) = b.service.split_once('/').unwrap_or((&b.service, ""));
                format!("{here}/{line}/{name}/rollback")
            }),
        })
        .collect();
    // A form for each service of the lines the visitor binds in here.
    let mut forms = Vec::new();
    for service in modules.runtime.catalog().services() {
        if !tenant.lines.contains(&service.line)
            || caller
                .authorize(state, &tenant.path, &service.line, "module.bind")
                .is_err()
        {
            continue;
        }
        let versions: Vec<String> = match published(state, Some(&service.id)).await {
            Ok(records) => records
                .into_iter()
                .filter(|m| m.yanked_at.is_none())
                .map(|m| m.label())
                .collect(),
            Err(e) => return refused(lang, who, token, &here, &e),
        };
        if versions.is_empty() {
            continue;
        }
        forms.push(BindForm {
            service_id: service.id.clone(),
            service: service_name(&service.id),
            action: format!("{here}/{}", service.id),
            versions,
            draft: draft
                .as_ref()
                .filter(|d| d.service == service.id)
                .map(|d| BindChoice {
                    version: d.version.clone(),
                    percent: d.percent.clone(),
                    what_if_report: d.what_if_report.clone(),
                }),
        });
    }
    let view = Bindings {
        rows,
        forms,
        csrf: token.0.clone(),
        outcome,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state,
            lang,
            who,
            token,
            caller,
            tenant,
        },
        Section::Bindings,
    );
    lang.answer(
        status,
        civitas_web::console::bindings(&frame, &place, &view),
    )
}

/// `GET /console/t/{path}/bindings`: the subtree's bindings and the
/// versions that may be bound here (`module.bind`).
pub(super) async fn bindings(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<Done>,
) -> Response {
    let here = section_href(&tenant.0, Section::Bindings);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    render_bindings(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant.0,
        query.outcome(),
        None,
        StatusCode::OK,
    )
    .await
}

/// A refused bind's form as it was sent (or one a what-if report filled).
struct BindDraft {
    service: String,
    version: String,
    percent: String,
    what_if_report: String,
}

/// The bind form.
#[derive(Debug, Deserialize)]
pub(super) struct BindFormData {
    csrf: String,
    /// `module@version`.
    version: String,
    percent: String,
    /// The what-if report the change is decided on (required for 1–99 %).
    #[serde(default)]
    what_if_report: String,
}

/// `POST /console/t/{path}/bindings/{line}/{name}`: binds a version, or
/// rolls it out to a share of cases (`module.bind`, conformance checked).
pub(super) async fn bind(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
    Form(form): Form<BindFormData>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Bindings);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let percent = form
        .percent
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=100).contains(p));
    let version = form.version.split_once('@');
    let (status, outcome) = match (token.check(&form.csrf), version, percent) {
        (false, _, _) => forged(),
        (true, Some((module, version)), Some(percent)) => {
            let request = PutBinding {
                module: module.to_owned(),
                version: version.to_owned(),
                rollout_percent: (percent < 100).then_some(percent),
                what_if_report: Some(form.what_if_report.trim().to_owned())
                    .filter(|r| !r.is_empty()),
            };
            match bind_in(&state, &caller, &tenant, &format!("{line}/{name}"), request).await {
                Ok(_) => return done(&tenant, Section::Bindings, "bound"),
                Err(e) => (e.status, refusal(&e)),
            }
        }
        (true, _, _) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Outcome::Refused(Msg::InvalidRollout.both()),
        ),
    };
    let draft = BindDraft {
        service: format!("{line}/{name}"),
        version: form.version.clone(),
        percent: form.percent.clone(),
        what_if_report: form.what_if_report.clone(),
    };
    render_bindings(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        Some(outcome),
        Some(draft),
        status,
    )
    .await
}

/// `POST /console/t/{path}/bindings/{line}/{name}/what-if`: runs the
/// version chosen in the bind form over the subtree's recorded decisions
/// (`module.bind`) and keeps the report — the API's `what_if_in` — then
/// shows the bindings page again with what would change and the report
/// filled into the form, so a rollout names the report it was decided on.
pub(super) async fn what_if(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
    Form(form): Form<BindFormData>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Bindings);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let service = format!("{line}/{name}");
    let mut draft = BindDraft {
        service: service.clone(),
        version: form.version.clone(),
        percent: form.percent.clone(),
        what_if_report: form.what_if_report.clone(),
    };
    let (status, outcome) = if !token.check(&form.csrf) {
        forged()
    } else {
        let request = crate::routes::modules::WhatIfRequest {
            candidate: form.version.clone(),
            since: None,
        };
        match crate::routes::modules::what_if_in(&state, &caller, &tenant.path, &service, request)
            .await
        {
            Ok(recorded) => {
                draft.what_if_report = recorded.id.clone();
                (StatusCode::OK, Outcome::Done(what_if_summary(&recorded)))
            }
            Err(e) => (e.status, refusal(&e)),
        }
    };
    render_bindings(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        Some(outcome),
        Some(draft),
        status,
    )
    .await
}

/// What a what-if report found, in a sentence per language: the decisions
/// run again, those that would change by field, the first cases.
fn what_if_summary(recorded: &civitas_workflow::what_if::Recorded) -> (String, String) {
    let report = &recorded.report;
    let fields: Vec<String> = report
        .fields
        .iter()
        .map(|(field, n)| format!("{field} ×{n}"))
        .collect();
    let cases: Vec<&str> = report
        .changed
        .iter()
        .take(10)
        .map(|c| c.case_id.as_str())
        .collect();
    let more = report.changed.len().saturating_sub(cases.len());
    let listed = if cases.is_empty() {
        String::new()
    } else if more > 0 {
        format!("{} … (+{more})", cases.join(", "))
    } else {
        cases.join(", ")
    };
    // An optional part: `open` + the text + `close`, or nothing.
    let part = |text: &str, open: &str, close: &str| {
        if text.is_empty() {
            String::new()
        } else {
            format!("{open}{text}{close}")
        }
    };
    let (id, candidate) = (&recorded.id, &report.candidate);
    let (decisions, changed, failed) =
        (report.decisions, report.changed.len(), report.failed.len());
    (
        format!(
            "假设评估报告 {id}（{candidate}）：重新运行 {decisions} 项已记录的决定，{changed} 项将改变{}，{failed} 项出错{}。报告编号已填入下方表单。",
            part(&fields.join("、"), "（", "）"),
            part(&listed, "；将改变的办件：", ""),
        ),
        format!(
            "What-if report {id} ({candidate}): {decisions} recorded decisions run again, {changed} would change{}, {failed} failed{}. The report is filled into the form below.",
            part(&fields.join(", "), " (", ")"),
            part(&listed, "; cases that would change: ", ""),
        ),
    )
}

/// A form that carries only its token.
#[derive(Debug, Deserialize)]
pub(super) struct TokenOnly {
    csrf: String,
}

/// `POST /console/t/{path}/bindings/{line}/{name}/rollback`: restores the
/// binding here to before its latest change (`module.bind`).
pub(super) async fn rollback(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Bindings);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (status, outcome) = if token.check(&form.csrf) {
        match rollback_in(&state, &caller, &tenant, &format!("{line}/{name}")).await {
            Ok(_) => return done(&tenant, Section::Bindings, "rolled-back"),
            Err(e) => (e.status, refusal(&e)),
        }
    } else {
        forged()
    };
    render_bindings(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        Some(outcome),
        None,
        status,
    )
    .await
}

// ----------------------------------------------------------------- audit

/// The audit page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    before: Option<i64>,
    verify: Option<bool>,
}

/// `GET /console/t/{path}/audit`: the subtree's audit records, newest
/// first, filtered by action and actor (`audit.read`); `?verify=true`
/// recomputes the chains. Nothing on it changes anything.
pub(super) async fn audit(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<AuditQuery>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Audit);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (action, actor) = (given(&query.action), given(&query.actor));
    let events = match audit_in(
        &state,
        &caller,
        &tenant,
        &civitas_audit::Query {
            actor: actor.clone(),
            action: action.clone(),
            target: None,
            from: None,
            to: None,
            before_id: query.before,
            limit: ROWS_PER_PAGE as usize + 1,
        },
    )
    .await
    {
        Ok(events) => events,
        Err(e) => return refused(lang, &who, &token, &here, &e),
    };
    let filter = |extra: &str| {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let mut pairs = Vec::new();
        if let Some(a) = &action {
            pairs.push(format!(
                "action={}",
                utf8_percent_encode(a, NON_ALPHANUMERIC)
            ));
        }
        if let Some(a) = &actor {
            pairs.push(format!(
                "actor={}",
                utf8_percent_encode(a, NON_ALPHANUMERIC)
            ));
        }
        let mut query = pairs.join("&");
        if !extra.is_empty() {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(extra);
        }
        format!("{here}?{query}")
    };
    let next = (events.len() > ROWS_PER_PAGE as usize)
        .then(|| events.get(ROWS_PER_PAGE as usize - 1))
        .flatten()
        .map(|last| filter(&format!("before={}", last.id)));
    let rows = events
        .into_iter()
        .take(ROWS_PER_PAGE as usize)
        .map(|e| AuditRow {
            at: beijing(e.occurred_at),
            chain: format!("{} #{}", e.tenant_path, e.seq),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail.to_string(),
        })
        .collect();
    // Verifying reads every record of the subtree: one at a time per node.
    static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let chains = if query.verify == Some(true) {
        match VERIFYING.try_acquire() {
            Err(_) => ChainStatus::Busy,
            Ok(_running) => match verify_in(&state, &caller, &tenant).await {
                Ok(report) if report.is_intact() => ChainStatus::Intact {
                    chains: report.tenants,
                    records: report.records,
                    anchors: report.anchors,
                },
                Ok(report) => {
                    ChainStatus::Broken(report.problems.iter().map(ToString::to_string).collect())
                }
                Err(e) => return refused(lang, &who, &token, &here, &e),
            },
        }
    } else {
        ChainStatus::Unchecked(filter("verify=true"))
    };
    let export = {
        let filtered = filter("");
        format!(
            "{here}/export{}",
            filtered.get(here.len()..).unwrap_or_default()
        )
    };
    let view = Audit {
        rows,
        export: Some(export),
        next,
        action: query.action,
        actor: query.actor,
        here: here.clone(),
        chains,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state: &state,
            lang,
            who: &who,
            token: &token,
            caller: &caller,
            tenant: &tenant,
        },
        Section::Audit,
    );
    lang.answer(
        StatusCode::OK,
        civitas_web::console::audit(&frame, &place, &view),
    )
}

// ------------------------------------------------------------- dashboard

fn figures(counts: &civitas_workflow::stats::Counts) -> Figures {
    Figures {
        filed: counts.filed,
        finished: counts.finished_total(),
        approval_rate: counts.approval_rate(),
        mean_working_days: counts.mean_working_days(),
        overdue_rate: counts.overdue_rate(),
        mean_score: counts.mean_score(),
    }
}

/// `GET /console/t/{path}/dashboard`: the subtree's cases of the last
/// twelve months, by month and by place (`case.read` in the visitor's
/// line).
pub(super) async fn dashboard(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Dashboard);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let board = match dashboard_in(&state, &caller, &tenant, DEFAULT_MONTHS).await {
        Ok(board) => board,
        Err(e) => return refused(lang, &who, &token, &here, &e),
    };
    // Every month of the span, those without cases at zero.
    let first = since(DEFAULT_MONTHS);
    let months = (0..DEFAULT_MONTHS)
        .filter_map(|i| {
            let year: i32 = first.get(..4)?.parse().ok()?;
            let month: i32 = first.get(5..)?.parse().ok()?;
            let index = year * 12 + month - 1 + i as i32;
            Some(format!("{:04}-{:02}", index / 12, index % 12 + 1))
        })
        .map(|month| {
            let counts = board
                .months
                .iter()
                .find(|m| m.month == month)
                .map(|m| m.counts)
                .unwrap_or_default();
            MonthBar {
                month,
                filed: counts.filed,
                finished: counts.finished_total(),
            }
        })
        .collect();
    let directory = state.tenants();
    let own = tenant.path.to_string();
    let places = board
        .places
        .iter()
        .map(|p| {
            let record = directory.get(&p.tenant);
            let name = match record {
                Some(r) if p.tenant == own => Bilingual {
                    zh: format!("{}{}", r.name, Msg::OwnCases.text(civitas_web::Lang::Zh)),
                    en: format!("{}{}", r.name_en, Msg::OwnCases.text(civitas_web::Lang::En)),
                },
                Some(r) => bilingual(r),
                None => Bilingual {
                    zh: p.tenant.clone(),
                    en: p.tenant.clone(),
                },
            };
            PlaceRow {
                name,
                href: record
                    .filter(|_| p.tenant != own)
                    .map(|r| section_href(r, Section::Dashboard)),
                figures: figures(&p.counts),
            }
        })
        .collect();
    let line = caller.line_for(None);
    let base = format!("/console/t/{}", tenant.slug_path);
    let view = DashboardView {
        months_covered: DEFAULT_MONTHS,
        export: Some(format!("{base}/dashboard/export")),
        export_cases: Some(format!("{base}/cases/export")),
        line: (line != NO_LINE && line != civitas_tenancy::ALL_LINES).then(|| line.to_owned()),
        total: figures(&board.total),
        months,
        places,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state: &state,
            lang,
            who: &who,
            token: &token,
            caller: &caller,
            tenant: &tenant,
        },
        Section::Dashboard,
    );
    lang.answer(
        StatusCode::OK,
        civitas_web::console::dashboard(&frame, &place, &view),
    )
}

// --------------------------------------------------------------- modules

/// The registry page's query: a version to check.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ModulesQuery {
    check: Option<String>,
}

/// `GET /console/t/{path}/bindings/modules`: every published version, its publisher
/// and signature; `?check=name@version` runs its conformance checks with
/// this place's settings (`module.bind`).
pub(super) async fn modules(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<ModulesQuery>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Modules);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !may_open(&state, &caller, &tenant, Section::Modules) {
        let denied = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "无权访问",
            "Not allowed",
        );
        return refused(lang, &who, &token, &here, &denied);
    }
    let records = match published(&state, None).await {
        Ok(records) => records,
        Err(e) => return refused(lang, &who, &token, &here, &e),
    };
    let Ok(settings) = state.modules() else {
        return refused(lang, &who, &token, &here, &ApiError::internal());
    };
    let service_name = |id: &str| {
        settings.runtime.service(id).map_or_else(
            |_| Bilingual {
                zh: id.to_owned(),
                en: id.to_owned(),
            },
            |s| Bilingual {
                zh: s.name.clone(),
                en: s.name_en.clone(),
            },
        )
    };
    let (mut report, mut outcome) = (None, None);
    if let Some((name, version)) = query.check.as_deref().and_then(|c| c.split_once('@')) {
        let module = civitas_registry::ModuleRef {
            module: name.to_owned(),
            version: version.to_owned(),
        };
        match conformance_in(&state, &caller, &tenant, &module).await {
            Ok(r) => {
                report = Some(ConformanceView {
                    label: module.to_string(),
                    passed: r.passed(),
                    checks: r
                        .checks
                        .iter()
                        .map(|c| (c.check.to_owned(), c.passed, c.detail.clone()))
                        .collect(),
                    max_fuel: r.max_fuel_used,
                })
            }
            Err(e) => outcome = Some(refusal(&e)),
        }
    }
    let rows = records
        .into_iter()
        .map(|m| ModuleRow {
            service: service_name(&m.service),
            label: m.label(),
            check: format!("{here}?check={}#conformance", m.label()),
            publisher: m.publisher,
            digest: m.digest.chars().take(16).collect(),
            signing_key: m.signing_key,
            published: beijing(m.published_at),
            yanked: m.yanked_at.map(|_| m.yank_reason.unwrap_or_default()),
        })
        .collect();
    let view = Modules {
        rows,
        report,
        outcome,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state: &state,
            lang,
            who: &who,
            token: &token,
            caller: &caller,
            tenant: &tenant,
        },
        Section::Modules,
    );
    lang.answer(
        StatusCode::OK,
        civitas_web::console::modules(&frame, &place, &view),
    )
}

/// `GET /console/t/{path}/{accounts|audit|dashboard|cases}/export`: a
/// section's list as a workbook, through the API's export (the same
/// authorization, masking and audit record); a refusal is a page.
async fn download(
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    here: &str,
    export: impl AsyncFnOnce(Caller) -> Result<Response, ApiError>,
) -> Response {
    let caller = match admin(lang, who, here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    match export(caller).await {
        Ok(file) => file,
        Err(e) => refused(lang, who, token, here, &e),
    }
}

/// The accounts section's list as a workbook (its filters).
pub(super) async fn export_accounts(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<crate::routes::accounts::AccountsExportQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Accounts);
    download(lang, &who, &token, &here, async |caller| {
        crate::export::not_head(&method)?;
        crate::routes::accounts::export_accounts_in(&state, &caller, &tenant.0, query).await
    })
    .await
}

/// The audit section's records as a workbook (its filters).
pub(super) async fn export_audit(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<crate::routes::audit::AuditExportQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Audit);
    download(lang, &who, &token, &here, async |caller| {
        crate::export::not_head(&method)?;
        crate::routes::audit::export_audit_in(&state, &caller, &tenant.0, query).await
    })
    .await
}

/// The dashboard's figures as a workbook.
pub(super) async fn export_dashboard(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<crate::routes::dashboard::DashboardQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Dashboard);
    download(lang, &who, &token, &here, async |caller| {
        crate::export::not_head(&method)?;
        crate::routes::dashboard::export_dashboard_in(&state, &caller, &tenant.0, query).await
    })
    .await
}

/// The place's cases (of the caller's lines) as a workbook.
pub(super) async fn export_cases(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<crate::routes::cases::CaseExportQuery>,
) -> Response {
    let here = section_href(&tenant.0, Section::Dashboard);
    download(lang, &who, &token, &here, async |caller| {
        crate::export::not_head(&method)?;
        crate::routes::cases::export_cases_in(&state, &caller, &tenant.0, query).await
    })
    .await
}

// ------------------------------------------------------------------ seals

/// The seals section of `tenant`: the list, and the forms for those who
/// may make and revoke seals (`seal.manage`, the security administrator's).
#[allow(clippy::too_many_arguments)]
async fn render_seals(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    caller: &Caller,
    tenant: &TenantRecord,
    outcome: Option<Outcome>,
    draft: (String, String),
    status: StatusCode,
) -> Response {
    let here = section_href(tenant, Section::Seals);
    let seals = match crate::routes::documents::seals_in(state, caller, &tenant.path).await {
        Ok(found) => found,
        Err(e) => return refused(lang, who, token, &here, &e),
    };
    let directory = state.tenants();
    let rows = seals
        .into_iter()
        .map(|s| {
            let at = directory.get(&s.tenant);
            civitas_web::console::SealRow {
                place: at.map_or_else(
                    || Bilingual {
                        zh: s.tenant.clone(),
                        en: s.tenant.clone(),
                    },
                    |t| bilingual(t),
                ),
                // Revoked where it was made, while it is active.
                revoke: (s.revoked_at.is_none())
                    .then(|| at.map(|t| format!("{}/revoke", section_href(t, Section::Seals))))
                    .flatten(),
                valid: format!("{} → {}", beijing(s.valid_from), beijing(s.valid_until)),
                revoked: s.revoked_at.map(beijing),
                id: s.id,
                name: s.name,
                line: s.line,
            }
        })
        .collect();
    let view = civitas_web::console::Seals {
        rows,
        make: Some(here.clone()),
        lines: tenant.lines.clone(),
        csrf: token.0.clone(),
        outcome,
        draft,
    };
    let (frame, place) = section_page(
        SectionVisit {
            state,
            lang,
            who,
            token,
            caller,
            tenant,
        },
        Section::Seals,
    );
    lang.answer(status, civitas_web::console::seals(&frame, &place, &view))
}

/// `GET /console/t/{path}/seals`: the subtree's electronic seals
/// (`seal.manage`).
pub(super) async fn seals(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<Done>,
) -> Response {
    let here = section_href(&tenant.0, Section::Seals);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    render_seals(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant.0,
        query.outcome(),
        Default::default(),
        StatusCode::OK,
    )
    .await
}

/// The make form.
#[derive(Debug, Deserialize)]
pub(super) struct SealForm {
    csrf: String,
    line: String,
    name: String,
}

/// `POST /console/t/{path}/seals`: makes the line's seal here, five years
/// (`seal.manage`), through the function the API calls.
pub(super) async fn make_seal(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<SealForm>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Seals);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (status, outcome) = if !token.check(&form.csrf) {
        forged()
    } else {
        let body = crate::routes::documents::MakeSeal {
            line: form.line.trim().to_owned(),
            name: form.name.trim().to_owned(),
            years: 5,
        };
        match crate::routes::documents::make_seal_in(&state, &caller, &tenant.path, &body).await {
            Ok(_) => return done(&tenant, Section::Seals, "seal-made"),
            Err(e) => (e.status, refusal(&e)),
        }
    };
    render_seals(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        Some(outcome),
        (form.line, form.name),
        status,
    )
    .await
}

/// The revoke form.
#[derive(Debug, Deserialize)]
pub(super) struct RevokeSealForm {
    csrf: String,
    id: String,
}

/// `POST /console/t/{path}/seals/revoke`: revokes a seal made here
/// (`seal.manage`).
pub(super) async fn revoke_seal(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<RevokeSealForm>,
) -> Response {
    let tenant = tenant.0;
    let here = section_href(&tenant, Section::Seals);
    let caller = match admin(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (status, outcome) = if !token.check(&form.csrf) {
        forged()
    } else {
        match crate::routes::documents::revoke_seal_in(
            &state,
            &caller,
            &tenant.path,
            form.id.trim(),
        )
        .await
        {
            Ok(_) => return done(&tenant, Section::Seals, "seal-revoked"),
            Err(e) => (e.status, refusal(&e)),
        }
    };
    render_seals(
        &state,
        lang,
        &who,
        &token,
        &caller,
        &tenant,
        Some(outcome),
        Default::default(),
        status,
    )
    .await
}
