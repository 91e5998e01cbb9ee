//! The governance console (`/console/`): the tenant tree, and at each
//! tenant the sections its administrators work in — accounts (the system
//! administrator), grants (the security administrator), module bindings
//! (the platform administrator) and the audit log (the audit
//! administrator, read only).

use maud::{Markup, html};

use crate::guide::Bilingual;
use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// A node of the tenant tree, with its subtree.
#[derive(Debug, Clone)]
pub struct TreeNode {
    /// Its name.
    pub name: Bilingual,
    /// Its level's name (区, 街道, 县…).
    pub level: String,
    /// Its path of division codes.
    pub path: String,
    /// Its console page.
    pub href: String,
    /// Its children.
    pub children: Vec<TreeNode>,
}

/// The console's home: the whole tree, any depth.
pub fn home(frame: &Frame, roots: &[TreeNode]) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::Console.text(lang)) }
            p { (Msg::ConsoleIntro.text(lang)) }
            section.panel aria-labelledby="tree" {
                h2 #tree { (Msg::TenantTree.text(lang)) }
                (tree(lang, roots))
            }
        },
    )
}

fn tree(lang: Lang, nodes: &[TreeNode]) -> Markup {
    html! {
        ul.tree {
            @for n in nodes {
                li {
                    a href=(n.href) { (lang.pick(&n.name.zh, &n.name.en)) }
                    " " span.line { (n.level) " · " code { (n.path) } }
                    @if !n.children.is_empty() { (tree(lang, &n.children)) }
                }
            }
        }
    }
}

/// A section of a tenant's console page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The tenant itself: level, lines, children.
    Overview,
    /// Its subtree's accounts.
    Accounts,
    /// The grants on its subtree.
    Grants,
    /// The module bindings of its subtree.
    Bindings,
    /// The audit log of its subtree.
    Audit,
    /// Its subtree's cases counted: the dashboard.
    Dashboard,
    /// The module registry: every published version, checked here.
    Modules,
    /// The electronic seals of its subtree (the security administrator's).
    Seals,
}

impl Section {
    /// The section's name.
    pub fn label(self) -> Msg {
        match self {
            Section::Overview => Msg::Overview,
            Section::Accounts => Msg::Accounts,
            Section::Grants => Msg::Grants,
            Section::Bindings => Msg::Bindings,
            Section::Audit => Msg::AuditLog,
            Section::Dashboard => Msg::Dashboard,
            Section::Modules => Msg::ModuleRegistry,
            Section::Seals => Msg::Seals,
        }
    }
}

/// Where a tenant's console page is, and where else the visitor may go.
#[derive(Debug, Clone)]
pub struct Place {
    /// The tenant's name.
    pub name: Bilingual,
    /// Its path of division codes.
    pub path: String,
    /// Its ancestors from the root down: name and console page.
    pub ancestors: Vec<(Bilingual, String)>,
    /// The sections the visitor may open here, with their pages.
    pub sections: Vec<(Section, String)>,
    /// The section shown.
    pub current: Section,
}

/// The head every tenant page shares: breadcrumb, name, sections.
fn place_head(lang: Lang, place: &Place) -> Markup {
    html! {
        nav.breadcrumb aria-label=(Msg::Breadcrumb.text(lang)) {
            a href="/console/" { (Msg::Console.text(lang)) }
            @for (name, href) in &place.ancestors {
                " / " a href=(href) { (lang.pick(&name.zh, &name.en)) }
            }
        }
        h1 { (lang.pick(&place.name.zh, &place.name.en)) " · " (place.current.label().text(lang)) }
        p.line { code { (place.path) } }
        nav.sections aria-label=(Msg::Sections.text(lang)) {
            ul {
                @for (section, href) in &place.sections {
                    li {
                        @if *section == place.current {
                            a href=(href) aria-current="page" { (section.label().text(lang)) }
                        } @else {
                            a href=(href) { (section.label().text(lang)) }
                        }
                    }
                }
            }
        }
    }
}

/// What a page reports after a change: done, or refused and why.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Done: what was done (Chinese, English).
    Done((String, String)),
    /// Refused by the separation of the three administrators (三员分立):
    /// the reason.
    SeparationOfDuties((String, String)),
    /// Refused for another reason.
    Refused((String, String)),
}

fn outcome(lang: Lang, outcome: Option<&Outcome>) -> Markup {
    html! {
        @match outcome {
            Some(Outcome::Done((zh, en))) => p.notice role="status" { (lang.pick(zh, en)) },
            Some(Outcome::SeparationOfDuties((zh, en))) => div.error role="alert" {
                strong { (Msg::RefusedBySeparation.text(lang)) }
                p { (lang.pick(zh, en)) }
            },
            Some(Outcome::Refused((zh, en))) => p.error role="alert" { (Msg::NotDone.text(lang)) (lang.pick(zh, en)) },
            None => {},
        }
    }
}

/// The tenant itself.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Its level's name.
    pub level: String,
    /// Its lines of business.
    pub lines: Vec<String>,
    /// Its children: name and console page.
    pub children: Vec<(Bilingual, String)>,
    /// Its portal.
    pub portal: String,
}

/// A tenant's overview page.
pub fn overview(frame: &Frame, place: &Place, view: &Overview) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            section.panel {
                dl.fields {
                    dt { (Msg::Level.text(lang)) } dd { (view.level) }
                    dt { (Msg::Lines.text(lang)) }
                    dd { @for (i, l) in view.lines.iter().enumerate() { @if i > 0 { "、" } code { (l) } } }
                    dt { (Msg::Portal.text(lang)) } dd { a href=(view.portal) { (view.portal) } }
                }
            }
            @if !view.children.is_empty() {
                section.panel aria-labelledby="children" {
                    h2 #children { (Msg::Children.text(lang)) }
                    ul {
                        @for (name, href) in &view.children {
                            li { a href=(href) { (lang.pick(&name.zh, &name.en)) } }
                        }
                    }
                }
            }
        },
    )
}

/// An account as the console lists it.
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// Its username.
    pub username: String,
    /// Its name shown.
    pub display_name: String,
    /// Its kind.
    pub kind: Msg,
    /// Where it belongs (a path of codes).
    pub tenant: String,
    /// Its line.
    pub line: Option<String>,
    /// Its state, and whether a sign-in lock holds it.
    pub state: Msg,
    /// Locked against sign-in until (local time), if it is.
    pub locked_until: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Where its actions post, when the visitor may take them.
    pub actions: Option<String>,
}

/// The accounts page.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// The accounts of the subtree, a page of them.
    pub rows: Vec<AccountRow>,
    /// Where every account of the list downloads as a workbook.
    pub export: Option<String>,
    /// The next page.
    pub next: Option<String>,
    /// Where the new-account form posts, when the visitor may create.
    pub create: Option<String>,
    /// The tenant's lines (a staff account needs one).
    pub lines: Vec<String>,
    /// The form token.
    pub csrf: String,
    /// What was just done, or refused.
    pub outcome: Option<Outcome>,
    /// A one-time password just issued: the username and the password,
    /// shown this once.
    pub one_time: Option<(String, String)>,
    /// What the new-account form was last sent with, when it was refused:
    /// shown again, so nothing typed is lost.
    pub draft: AccountDraft,
    /// Where a staff roster is imported, when the visitor may create.
    pub import: Option<String>,
    /// What the roster just sent was found to hold, or what it created.
    pub import_report: Option<ImportView>,
    /// A refused disable: the account and the reason typed, shown again
    /// with its actions open.
    pub disable_draft: Option<(String, String)>,
}

/// A problem of one row of a roster.
#[derive(Debug, Clone)]
pub struct RowProblem {
    /// The row, as the sheet numbers it.
    pub row: Option<u32>,
    /// The column at fault.
    pub column: Option<String>,
    /// What is wrong (Chinese, English).
    pub text: (String, String),
}

/// An account a roster plans or created.
#[derive(Debug, Clone)]
pub struct ImportedAccount {
    /// The row it comes from.
    pub row: u32,
    /// Its username.
    pub username: String,
    /// Its name.
    pub name: String,
    /// Where it belongs.
    pub place: String,
    /// Its line.
    pub line: Option<String>,
    /// Its one-time password, once created (shown once).
    pub one_time_password: Option<String>,
}

/// A roster import's findings (a dry run) or results.
#[derive(Debug, Clone)]
pub struct ImportView {
    /// Whether nothing was created (a check only).
    pub dry_run: bool,
    /// Data rows read.
    pub rows: usize,
    /// Accounts created.
    pub created: usize,
    /// Each problem.
    pub problems: Vec<RowProblem>,
    /// The accounts planned or created.
    pub accounts: Vec<ImportedAccount>,
    /// Columns not read.
    pub ignored_columns: Vec<String>,
}

/// The new-account form's fields as they were sent.
#[derive(Debug, Clone, Default)]
pub struct AccountDraft {
    /// The username.
    pub username: String,
    /// The name shown.
    pub display_name: String,
    /// `staff`, `developer` or `service`.
    pub kind: String,
    /// The line.
    pub line: String,
    /// The employee number.
    pub employee_no: String,
    /// The position.
    pub position: String,
    /// The phone number.
    pub phone: String,
    /// The e-mail address.
    pub email: String,
}

/// The accounts of a subtree, and the system administrator's actions.
pub fn accounts(frame: &Frame, place: &Place, view: &Accounts) -> Markup {
    let lang = frame.lang;
    let d = &view.draft;
    page(
        frame,
        html! {
            (place_head(lang, place))
            (outcome(lang, view.outcome.as_ref()))
            @if let Some((username, password)) = &view.one_time {
                section.panel.notice #one-time aria-labelledby="one-time-title" {
                    h2 #one-time-title { (Msg::OneTimePassword.text(lang)) }
                    p { (Msg::OneTimePasswordShownOnce.text(lang)) }
                    dl.fields {
                        dt { (Msg::Username.text(lang)) } dd { code { (username) } }
                        dt { (Msg::OneTimePassword.text(lang)) } dd { code #one-time-password { (password) } }
                    }
                }
            }
            @if let Some(href) = &view.export { (crate::layout::export_link(lang, href, Msg::ExportXlsx)) }
            @if view.rows.is_empty() {
                p role="status" { (Msg::NoAccounts.text(lang)) }
            } @else {
                div.table role="region" tabindex="0" aria-label=(Msg::Accounts.text(lang)) {
                    table.tasks #accounts {
                        caption.visually-hidden { (Msg::Accounts.text(lang)) }
                        thead { tr {
                            th scope="col" { (Msg::Username.text(lang)) }
                            th scope="col" { (Msg::DisplayName.text(lang)) }
                            th scope="col" { (Msg::AccountKind.text(lang)) }
                            th scope="col" { (Msg::Line.text(lang)) }
                            th scope="col" { (Msg::AccountState.text(lang)) }
                            th scope="col" { (Msg::Roles.text(lang)) }
                        } }
                        tbody {
                            @for a in &view.rows {
                                tr data-username=(a.username) {
                                    td {
                                        code { (a.username) }
                                        br; span.line { (a.tenant) }
                                        @if let Some(action) = &a.actions { (account_actions(lang, a, action, &view.csrf, view.disable_draft.as_ref().filter(|(u, _)| *u == a.username).map(|(_, r)| r.as_str()))) }
                                    }
                                    td { (a.display_name) }
                                    td { (a.kind.text(lang)) }
                                    td { (a.line.as_deref().unwrap_or("—")) }
                                    td {
                                        (a.state.text(lang))
                                        @if let Some(until) = &a.locked_until {
                                            br; strong.badge.required { (Msg::LockedUntil.text(lang)) (until) }
                                        }
                                    }
                                    td { @if a.roles.is_empty() { "—" } @else { (a.roles.join("、")) } }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next { p { a href=(next) { (Msg::NextPage.text(lang)) } } }
            }
            @if let Some(r) = &view.import_report {
                section.panel #import-report aria-labelledby="import-report-title" {
                    h2 #import-report-title { @if r.dry_run { (Msg::ImportChecked.text(lang)) } @else { (Msg::ImportDone.text(lang)) } }
                    p role="status" {
                        (Msg::ImportRows.text(lang)) (r.rows)
                        @if !r.dry_run { " · " (Msg::ImportCreated.text(lang)) (r.created) }
                        @if !r.ignored_columns.is_empty() { " · " (Msg::ImportIgnored.text(lang)) (r.ignored_columns.join("、")) }
                    }
                    @if !r.problems.is_empty() {
                        p.error role="alert" { (Msg::ImportProblems.text(lang)) (r.problems.len()) }
                        div.table role="region" tabindex="0" aria-label=(Msg::ImportProblems.text(lang)) {
                            table.tasks #import-problems {
                                caption.visually-hidden { (Msg::ImportProblems.text(lang)) }
                                thead { tr {
                                    th scope="col" { (Msg::Row.text(lang)) }
                                    th scope="col" { (Msg::Column.text(lang)) }
                                    th scope="col" { (Msg::Problem.text(lang)) }
                                } }
                                tbody {
                                    @for p in &r.problems {
                                        tr {
                                            td { (p.row.map_or_else(|| "—".to_owned(), |n| n.to_string())) }
                                            td { (p.column.as_deref().unwrap_or("—")) }
                                            td { (lang.pick(&p.text.0, &p.text.1)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !r.accounts.is_empty() {
                        @if !r.dry_run { p { (Msg::OneTimePasswordShownOnce.text(lang)) } }
                        div.table role="region" tabindex="0" aria-label=(Msg::Accounts.text(lang)) {
                            table.tasks #import-accounts {
                                caption.visually-hidden { (Msg::Accounts.text(lang)) }
                                thead { tr {
                                    th scope="col" { (Msg::Row.text(lang)) }
                                    th scope="col" { (Msg::Username.text(lang)) }
                                    th scope="col" { (Msg::DisplayName.text(lang)) }
                                    th scope="col" { (Msg::Line.text(lang)) }
                                    @if !r.dry_run { th scope="col" { (Msg::OneTimePassword.text(lang)) } }
                                } }
                                tbody {
                                    @for a in &r.accounts {
                                        tr {
                                            td { (a.row) }
                                            td { code { (a.username) } br; span.line { (a.place) } }
                                            td { (a.name) }
                                            td { (a.line.as_deref().unwrap_or("—")) }
                                            @if !r.dry_run { td { code { (a.one_time_password.as_deref().unwrap_or("—")) } } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(action) = &view.import {
                section.panel aria-labelledby="import" {
                    h2 #import { (Msg::ImportRoster.text(lang)) }
                    p { (Msg::ImportRosterIntro.text(lang)) }
                    form.upload method="post" action=(action) enctype="multipart/form-data" {
                        input type="hidden" name="csrf" value=(view.csrf);
                        div.field {
                            label for="roster" { (Msg::RosterFile.text(lang)) }
                            input #roster type="file" name="file" required accept=".xlsx,.csv,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
                        }
                        label.choice {
                            input type="checkbox" name="dry_run" value="true" checked;
                            " " (Msg::ImportDryRun.text(lang))
                        }
                        button.button.secondary type="submit" { (Msg::ImportButton.text(lang)) }
                    }
                }
            }
            @if let Some(action) = &view.create {
                section.panel aria-labelledby="new-account" {
                    h2 #new-account { (Msg::NewAccount.text(lang)) }
                    p { (Msg::NewAccountIntro.text(lang)) }
                    form.application method="post" action=(action) {
                        input type="hidden" name="csrf" value=(view.csrf);
                        (text_field("username", Msg::Username, true, &d.username, lang))
                        (text_field("display_name", Msg::DisplayName, true, &d.display_name, lang))
                        div.field {
                            label for="kind" { (Msg::AccountKind.text(lang)) }
                            select #kind name="kind" {
                                @for (value, label) in [("staff", Msg::KindStaff), ("developer", Msg::KindDeveloper), ("service", Msg::KindService)] {
                                    option value=(value) selected[d.kind == value] { (label.text(lang)) }
                                }
                            }
                        }
                        div.field {
                            label for="line" { (Msg::Line.text(lang)) }
                            select #line name="line" {
                                option value="" { (Msg::NoLine.text(lang)) }
                                @for l in &view.lines { option value=(l) selected[&d.line == l] { (l) } }
                            }
                        }
                        (text_field("employee_no", Msg::EmployeeNo, false, &d.employee_no, lang))
                        (text_field("position", Msg::Position, false, &d.position, lang))
                        (text_field("phone", Msg::Phone, false, &d.phone, lang))
                        (text_field("email", Msg::Email, false, &d.email, lang))
                        button.button type="submit" { (Msg::CreateAccount.text(lang)) }
                    }
                }
            }
        },
    )
}

fn text_field(name: &str, label: Msg, required: bool, value: &str, lang: Lang) -> Markup {
    html! {
        div.field {
            label for=(name) {
                (label.text(lang))
                @if required { span.required aria-hidden="true" { " *" } }
            }
            input id=(name) type="text" name=(name) value=(value) required[required] maxlength="200";
        }
    }
}

/// The system administrator's actions on one account, folded away.
fn account_actions(
    lang: Lang,
    a: &AccountRow,
    action: &str,
    csrf: &str,
    disable_draft: Option<&str>,
) -> Markup {
    let id = |what: &str| format!("{what}-{}", a.username);
    html! {
        details.actions open[disable_draft.is_some()] {
            summary { (Msg::Actions.text(lang)) }
            @if a.state == Msg::AccountDisabled {
                form.act method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="do" value="enable";
                    button.button.secondary type="submit" { (Msg::Enable.text(lang)) }
                }
            } @else {
                form.act method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="do" value="disable";
                    div.field {
                        label for=(id("reason")) { (Msg::DisableReason.text(lang)) span.required aria-hidden="true" { " *" } }
                        input id=(id("reason")) type="text" name="reason" value=(disable_draft.unwrap_or_default()) required maxlength="500";
                    }
                    button.button.secondary type="submit" { (Msg::Disable.text(lang)) }
                }
            }
            @if a.locked_until.is_some() {
                form.act method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="do" value="unlock";
                    button.button.secondary type="submit" { (Msg::Unlock.text(lang)) }
                }
            }
            @if a.kind != Msg::KindService {
                form.act method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="do" value="reset";
                    button.button.secondary type="submit" { (Msg::ResetPassword.text(lang)) }
                }
            }
        }
    }
}

/// A grant as the console lists it.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// The account's username.
    pub account: String,
    /// The subtree's root (its name).
    pub tenant: Bilingual,
    /// The line, or `*`.
    pub line: String,
    /// The role.
    pub role: String,
    /// Who granted it, and when (local time).
    pub granted: String,
    /// Where its revocation posts, when the visitor may revoke it.
    pub revoke: Option<String>,
}

/// The grants page.
#[derive(Debug, Clone)]
pub struct Grants {
    /// The grants on the subtree, a page of them.
    pub rows: Vec<GrantRow>,
    /// The next page.
    pub next: Option<String>,
    /// Where the grant form posts, when the visitor may grant.
    pub grant: Option<String>,
    /// The roles there are.
    pub roles: Vec<String>,
    /// The tenant's lines.
    pub lines: Vec<String>,
    /// The form token.
    pub csrf: String,
    /// What was just done, or refused.
    pub outcome: Option<Outcome>,
    /// What the grant form was last sent with (account, role, line), when
    /// it was refused.
    pub draft: (String, String, String),
}

/// The grants on a subtree, and the security administrator's actions.
pub fn grants(frame: &Frame, place: &Place, view: &Grants) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            (outcome(lang, view.outcome.as_ref()))
            @if view.rows.is_empty() {
                p role="status" { (Msg::NoGrants.text(lang)) }
            } @else {
                div.table role="region" tabindex="0" aria-label=(Msg::Grants.text(lang)) {
                    table.tasks #grants {
                        caption.visually-hidden { (Msg::Grants.text(lang)) }
                        thead { tr {
                            th scope="col" { (Msg::Username.text(lang)) }
                            th scope="col" { (Msg::Role.text(lang)) }
                            th scope="col" { (Msg::Line.text(lang)) }
                            th scope="col" { (Msg::GrantScope.text(lang)) }
                            th scope="col" { (Msg::GrantedBy.text(lang)) }
                        } }
                        tbody {
                            @for g in &view.rows {
                                tr data-account=(g.account) data-role=(g.role) {
                                    td { code { (g.account) } }
                                    td {
                                        (g.role)
                                        @if let Some(revoke) = &g.revoke {
                                            form.act method="post" action=(revoke) {
                                                input type="hidden" name="csrf" value=(view.csrf);
                                                input type="hidden" name="account" value=(g.account);
                                                input type="hidden" name="line" value=(g.line);
                                                input type="hidden" name="role" value=(g.role);
                                                button.link type="submit" { (Msg::Revoke.text(lang)) }
                                            }
                                        }
                                    }
                                    td { (g.line) }
                                    td { (lang.pick(&g.tenant.zh, &g.tenant.en)) }
                                    td { (g.granted) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next { p { a href=(next) { (Msg::NextPage.text(lang)) } } }
            }
            @if let Some(action) = &view.grant {
                section.panel aria-labelledby="new-grant" {
                    h2 #new-grant { (Msg::NewGrant.text(lang)) }
                    p { (Msg::NewGrantIntro.text(lang)) }
                    form.application method="post" action=(action) {
                        input type="hidden" name="csrf" value=(view.csrf);
                        (text_field("account", Msg::Username, true, &view.draft.0, lang))
                        div.field {
                            label for="role" { (Msg::Role.text(lang)) }
                            select #role name="role" {
                                @for r in &view.roles { option value=(r) selected[&view.draft.1 == r] { (r) } }
                            }
                        }
                        div.field {
                            label for="grant-line" { (Msg::Line.text(lang)) }
                            select #grant-line name="line" {
                                option value="*" { (Msg::EveryLine.text(lang)) }
                                @for l in &view.lines { option value=(l) selected[&view.draft.2 == l] { (l) } }
                            }
                        }
                        button.button type="submit" { (Msg::GrantButton.text(lang)) }
                    }
                }
            }
        },
    )
}

/// A seal as the console lists it (never its key).
#[derive(Debug, Clone)]
pub struct SealRow {
    /// Its id (印章编码).
    pub id: String,
    /// The name it shows.
    pub name: String,
    /// The place it belongs to.
    pub place: Bilingual,
    /// Its line.
    pub line: String,
    /// From and until, as people read them.
    pub valid: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
    /// Where its revoke form posts, when the visitor may revoke it.
    pub revoke: Option<String>,
}

/// The seals section.
#[derive(Debug, Clone)]
pub struct Seals {
    /// The seals of the subtree, active first.
    pub rows: Vec<SealRow>,
    /// Where the make form posts, when the visitor may make seals here.
    pub make: Option<String>,
    /// The tenant's lines.
    pub lines: Vec<String>,
    /// The form token.
    pub csrf: String,
    /// What was just done, or refused.
    pub outcome: Option<Outcome>,
    /// What the make form was last sent with (line, name), when refused.
    pub draft: (String, String),
}

/// The electronic seals of a subtree, and the security administrator's
/// make and revoke forms.
pub fn seals(frame: &Frame, place: &Place, view: &Seals) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            (outcome(lang, view.outcome.as_ref()))
            @if view.rows.is_empty() {
                p role="status" { (Msg::NoSeals.text(lang)) }
            } @else {
                div.table role="region" tabindex="0" aria-label=(Msg::Seals.text(lang)) {
                    table.tasks #seals {
                        caption.visually-hidden { (Msg::Seals.text(lang)) }
                        thead { tr {
                            th scope="col" { (Msg::SealName.text(lang)) }
                            th scope="col" { (Msg::Line.text(lang)) }
                            th scope="col" { (Msg::SealPlace.text(lang)) }
                            th scope="col" { (Msg::SealValidity.text(lang)) }
                            th scope="col" { (Msg::SealCode.text(lang)) }
                        } }
                        tbody {
                            @for s in &view.rows {
                                tr data-seal=(s.id) {
                                    td {
                                        (s.name)
                                        @if let Some(at) = &s.revoked {
                                            p.problem { (Msg::SealRevokedAt.text(lang)) (at) }
                                        }
                                        @if let Some(revoke) = &s.revoke {
                                            form.act method="post" action=(revoke) {
                                                input type="hidden" name="csrf" value=(view.csrf);
                                                input type="hidden" name="id" value=(s.id);
                                                button.link type="submit" { (Msg::Revoke.text(lang)) }
                                            }
                                        }
                                    }
                                    td { (s.line) }
                                    td { (lang.pick(&s.place.zh, &s.place.en)) }
                                    td { (s.valid) }
                                    td.line { code { (s.id) } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(action) = &view.make {
                section.panel aria-labelledby="new-seal" {
                    h2 #new-seal { (Msg::NewSeal.text(lang)) }
                    p { (Msg::NewSealIntro.text(lang)) }
                    form.application method="post" action=(action) {
                        input type="hidden" name="csrf" value=(view.csrf);
                        div.field {
                            label for="seal-line" { (Msg::Line.text(lang)) }
                            select #seal-line name="line" {
                                @for l in &view.lines { option value=(l) selected[&view.draft.0 == l] { (l) } }
                            }
                        }
                        (text_field("name", Msg::SealNameLabel, true, &view.draft.1, lang))
                        button.button type="submit" { (Msg::MakeSealButton.text(lang)) }
                    }
                }
            }
        },
    )
}

/// A binding as the console lists it.
#[derive(Debug, Clone)]
pub struct BindingRow {
    /// The service's name.
    pub service: Bilingual,
    /// Where it binds: a tenant's name, or the city-wide default.
    pub at: Bilingual,
    /// The stable version (`module@version`).
    pub stable: Option<String>,
    /// The version being rolled out, and its share of cases.
    pub candidate: Option<(String, u8)>,
    /// Bumped by every change.
    pub revision: i64,
    /// Who changed it last, and when (local time).
    pub updated: String,
    /// Where its rollback posts, when it binds at this tenant.
    pub rollback: Option<String>,
}

/// A form that binds a version of one service at this tenant.
#[derive(Debug, Clone)]
pub struct BindForm {
    /// The service's id (`line/name`), for element ids.
    pub service_id: String,
    /// The service's name.
    pub service: Bilingual,
    /// Where the form posts.
    pub action: String,
    /// The versions that may be bound (`module@version`), newest first.
    pub versions: Vec<String>,
    /// A refused bind's choice shown again, or one a what-if report filled.
    pub draft: Option<BindChoice>,
}

/// What a bind form holds when it is shown again.
#[derive(Debug, Clone)]
pub struct BindChoice {
    /// `module@version`.
    pub version: String,
    /// The percent, as typed.
    pub percent: String,
    /// The what-if report the change is decided on.
    pub what_if_report: String,
}

/// The bindings page.
#[derive(Debug, Clone)]
pub struct Bindings {
    /// The bindings of the subtree and the defaults.
    pub rows: Vec<BindingRow>,
    /// A form per service the visitor may bind here.
    pub forms: Vec<BindForm>,
    /// The form token.
    pub csrf: String,
    /// What was just done, or refused.
    pub outcome: Option<Outcome>,
}

/// The module bindings of a subtree: bind, roll out, roll back.
pub fn bindings(frame: &Frame, place: &Place, view: &Bindings) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            (outcome(lang, view.outcome.as_ref()))
            div.table role="region" tabindex="0" aria-label=(Msg::Bindings.text(lang)) {
                table.tasks #bindings {
                    caption.visually-hidden { (Msg::Bindings.text(lang)) }
                    thead { tr {
                        th scope="col" { (Msg::Matter.text(lang)) }
                        th scope="col" { (Msg::BoundAt.text(lang)) }
                        th scope="col" { (Msg::StableVersion.text(lang)) }
                        th scope="col" { (Msg::RolloutVersion.text(lang)) }
                        th scope="col" { (Msg::LastChange.text(lang)) }
                    } }
                    tbody {
                        @for b in &view.rows {
                            tr {
                                td { (lang.pick(&b.service.zh, &b.service.en)) }
                                td { (lang.pick(&b.at.zh, &b.at.en)) }
                                td { code { (b.stable.as_deref().unwrap_or("—")) } }
                                td.rollout {
                                    @match &b.candidate {
                                        Some((version, percent)) => { code { (version) } " · " strong { (percent) "%" } }
                                        None => "—",
                                    }
                                }
                                td {
                                    "#" (b.revision) " · " (b.updated)
                                    @if let Some(rollback) = &b.rollback {
                                        form.act method="post" action=(rollback) {
                                            input type="hidden" name="csrf" value=(view.csrf);
                                            button.button.secondary type="submit" { (Msg::Rollback.text(lang)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @for f in &view.forms {
                section.panel aria-labelledby=(format!("bind-{}", f.service_id.replace('/', "-"))) {
                    h2 id=(format!("bind-{}", f.service_id.replace('/', "-"))) { (Msg::BindVersion.text(lang)) (lang.pick(&f.service.zh, &f.service.en)) }
                    p { (Msg::BindIntro.text(lang)) }
                    form.application method="post" action=(f.action) {
                        input type="hidden" name="csrf" value=(view.csrf);
                        div.field {
                            label for=(format!("version-{}", f.service_id.replace('/', "-"))) { (Msg::ModuleVersion.text(lang)) }
                            select id=(format!("version-{}", f.service_id.replace('/', "-"))) name="version" {
                                @for v in &f.versions { option value=(v) selected[f.draft.as_ref().is_some_and(|d| &d.version == v)] { (v) } }
                            }
                        }
                        div.field {
                            label for=(format!("percent-{}", f.service_id.replace('/', "-"))) { (Msg::RolloutPercent.text(lang)) }
                            input id=(format!("percent-{}", f.service_id.replace('/', "-"))) type="number" name="percent" min="1" max="100" value=(f.draft.as_ref().map_or("100", |d| d.percent.as_str())) required;
                        }
                        div.field {
                            label for=(format!("what-if-{}", f.service_id.replace('/', "-"))) { (Msg::WhatIfReport.text(lang)) }
                            input id=(format!("what-if-{}", f.service_id.replace('/', "-"))) type="text" name="what_if_report" maxlength="64" value=(f.draft.as_ref().map_or("", |d| d.what_if_report.as_str()));
                        }
                        button.button type="submit" { (Msg::Bind.text(lang)) }
                        " "
                        button.button.quiet type="submit" formaction=(format!("{}/what-if", f.action)) formnovalidate { (Msg::RunWhatIf.text(lang)) }
                    }
                }
            }
        },
    )
}

/// An audit record as the console shows it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// When (local time).
    pub at: String,
    /// The chain (tenant path) and its place in it.
    pub chain: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Its details, as compact JSON.
    pub detail: String,
}

/// What verifying the chains found.
#[derive(Debug, Clone)]
pub enum ChainStatus {
    /// Not checked on this page: the link that checks.
    Unchecked(String),
    /// Every chain is intact.
    Intact {
        /// Chains checked.
        chains: usize,
        /// Records checked.
        records: u64,
        /// Signed anchors checked.
        anchors: u64,
    },
    /// Something is wrong: each problem, as the verifier words it.
    Broken(Vec<String>),
    /// Another verification is running on this node: try again later.
    Busy,
}

/// The audit page.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The records, newest first, a page of them.
    pub rows: Vec<AuditRow>,
    /// Where every record of the filter downloads as a workbook.
    pub export: Option<String>,
    /// The next page.
    pub next: Option<String>,
    /// The filter's action, as given.
    pub action: String,
    /// The filter's actor, as given.
    pub actor: String,
    /// Where the filter form goes.
    pub here: String,
    /// The chains' state.
    pub chains: ChainStatus,
}

/// The audit log of a subtree: read only, filtered, with the chains'
/// verification.
pub fn audit(frame: &Frame, place: &Place, view: &Audit) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            section.panel #chain-status aria-labelledby="chains" {
                h2 #chains { (Msg::ChainStatus.text(lang)) }
                @match &view.chains {
                    ChainStatus::Unchecked(href) => p { (Msg::ChainUnchecked.text(lang)) " " a href=(href) { (Msg::VerifyChains.text(lang)) } },
                    ChainStatus::Intact { chains, records, anchors } => p.notice role="status" {
                        strong { (Msg::ChainIntact.text(lang)) }
                        " " (Msg::ChainsChecked.text(lang)) (chains) " · " (Msg::RecordsChecked.text(lang)) (records) " · " (Msg::AnchorsChecked.text(lang)) (anchors)
                    },
                    ChainStatus::Busy => p.notice role="status" { (Msg::ChainBusy.text(lang)) },
                    ChainStatus::Broken(problems) => div.error role="alert" {
                        strong { (Msg::ChainBroken.text(lang)) }
                        ul { @for p in problems { li { (p) } } }
                    },
                }
            }
            form.filters method="get" action=(view.here) {
                div.field {
                    label for="action" { (Msg::AuditAction.text(lang)) }
                    input #action type="text" name="action" value=(view.action) placeholder="grant.*";
                }
                div.field {
                    label for="actor" { (Msg::AuditActor.text(lang)) }
                    input #actor type="text" name="actor" value=(view.actor);
                }
                button.button type="submit" { (Msg::Filter.text(lang)) }
            }
            @if let Some(href) = &view.export { (crate::layout::export_link(lang, href, Msg::ExportXlsx)) }
            @if view.rows.is_empty() {
                p role="status" { (Msg::NoAuditRecords.text(lang)) }
            } @else {
                div.table role="region" tabindex="0" aria-label=(Msg::AuditLog.text(lang)) {
                    table.tasks #audit {
                        caption.visually-hidden { (Msg::AuditLog.text(lang)) }
                        thead { tr {
                            th scope="col" { (Msg::AuditAt.text(lang)) }
                            th scope="col" { (Msg::AuditActor.text(lang)) }
                            th scope="col" { (Msg::AuditAction.text(lang)) }
                            th scope="col" { (Msg::AuditTarget.text(lang)) }
                        } }
                        tbody {
                            @for r in &view.rows {
                                tr {
                                    td { time { (r.at) } br; span.line { (r.chain) } }
                                    td { code { (r.actor) } }
                                    td { code { (r.action) } }
                                    td { (r.target) br; span.line.detail { (r.detail) } }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next { p { a href=(next) { (Msg::NextPage.text(lang)) } } }
            }
        },
    )
}

/// One month of the dashboard.
#[derive(Debug, Clone)]
pub struct MonthBar {
    /// `YYYY-MM`.
    pub month: String,
    /// Cases filed that month.
    pub filed: i64,
    /// Of those, finished.
    pub finished: i64,
}

/// One place of the dashboard: a child with its subtree, or the tenant's
/// own cases.
#[derive(Debug, Clone)]
pub struct PlaceRow {
    /// Its name.
    pub name: Bilingual,
    /// Its dashboard, when it is a child.
    pub href: Option<String>,
    /// Its figures.
    pub figures: Figures,
}

/// The figures of a dashboard or of one place in it.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Cases filed.
    pub filed: i64,
    /// Cases finished (approved, refused or withdrawn).
    pub finished: i64,
    /// Approved among those decided, in per cent.
    pub approval_rate: Option<f64>,
    /// Mean working days a finished case took.
    pub mean_working_days: Option<f64>,
    /// Filed cases past their statutory limit, in per cent.
    pub overdue_rate: Option<f64>,
    /// The applicants' mean rating (1–5) of the rated cases (好差评).
    pub mean_score: Option<f64>,
}

/// The dashboard page.
#[derive(Debug, Clone)]
pub struct DashboardView {
    /// How many months it covers.
    pub months_covered: u32,
    /// Where the figures download as a workbook.
    pub export: Option<String>,
    /// Where the subtree's cases download as a workbook.
    pub export_cases: Option<String>,
    /// The line counted, or every line.
    pub line: Option<String>,
    /// The subtree's figures.
    pub total: Figures,
    /// Month by month, oldest first, every month of the span.
    pub months: Vec<MonthBar>,
    /// By place.
    pub places: Vec<PlaceRow>,
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}%"))
}

fn days(value: Option<f64>, lang: Lang) -> String {
    value.map_or_else(
        || "—".to_owned(),
        |v| format!("{v:.1}{}", Msg::WorkingDays.text(lang)),
    )
}

/// A bar chart of cases filed and finished, month by month, drawn on the
/// server as SVG (no script, nothing fetched).
fn months_chart(lang: Lang, months: &[MonthBar]) -> Markup {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 220.0;
    const BASE: f64 = 190.0;
    const TOP: f64 = 20.0;
    let max = months
        .iter()
        .map(|m| m.filed.max(m.finished))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = (WIDTH - 40.0) / months.len().max(1) as f64;
    let bar = (slot / 3.0).min(18.0);
    let height = |n: i64| (BASE - TOP) * n as f64 / max;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby="months-title" {
                title #months-title { (Msg::ChartMonthsTitle.text(lang)) }
                line.axis x1="30" y1=(BASE) x2=(WIDTH - 5.0) y2=(BASE) {}
                text.tick x="26" y=(TOP + 4.0) text-anchor="end" { (max as i64) }
                text.tick x="26" y=(BASE) text-anchor="end" { "0" }
                @for (i, m) in months.iter().enumerate() {
                    @let x = 36.0 + slot * i as f64;
                    rect.filed x=(format!("{x:.1}")) y=(format!("{:.1}", BASE - height(m.filed))) width=(format!("{bar:.1}")) height=(format!("{:.1}", height(m.filed))) {}
                    rect.finished x=(format!("{:.1}", x + bar + 2.0)) y=(format!("{:.1}", BASE - height(m.finished))) width=(format!("{bar:.1}")) height=(format!("{:.1}", height(m.finished))) {}
                    text.tick x=(format!("{:.1}", x + bar)) y=(BASE + 16.0) text-anchor="middle" { (m.month.get(5..).unwrap_or(&m.month)) }
                }
            }
            figcaption {
                span.key.filed aria-hidden="true" {} (Msg::Filed.text(lang))
                " "
                span.key.finished aria-hidden="true" {} (Msg::Finished.text(lang))
            }
        }
    }
}

/// Horizontal bars of cases filed by place, with the share past its
/// statutory limit beside each.
fn places_chart(lang: Lang, places: &[PlaceRow]) -> Markup {
    const WIDTH: f64 = 640.0;
    const ROW: f64 = 28.0;
    let max = places
        .iter()
        .map(|p| p.figures.filed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let height = ROW * places.len() as f64 + 8.0;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby="places-title" {
                title #places-title { (Msg::ChartPlacesTitle.text(lang)) }
                @for (i, p) in places.iter().enumerate() {
                    @let y = 4.0 + ROW * i as f64;
                    @let w = 330.0 * p.figures.filed as f64 / max;
                    text.tick x="150" y=(format!("{:.1}", y + 17.0)) text-anchor="end" { (lang.pick(&p.name.zh, &p.name.en)) }
                    rect.filed x="158" y=(format!("{y:.1}")) width=(format!("{w:.1}")) height="20" {}
                    text.tick x=(format!("{:.1}", 164.0 + w)) y=(format!("{:.1}", y + 15.0)) {
                        (p.figures.filed) " · " (Msg::OverdueRate.text(lang)) " " (percent(p.figures.overdue_rate))
                    }
                }
            }
        }
    }
}

/// A subtree's dashboard: the figures, month by month and place by place,
/// as charts and as a table.
pub fn dashboard(frame: &Frame, place: &Place, view: &DashboardView) -> Markup {
    let lang = frame.lang;
    let t = &view.total;
    page(
        frame,
        html! {
            (place_head(lang, place))
            p {
                (Msg::DashboardSpan.text(lang)) (view.months_covered) (Msg::MonthsUnit.text(lang))
                " · " (Msg::Line.text(lang)) "："
                @match &view.line { Some(line) => code { (line) }, None => (Msg::EveryLine.text(lang)) }
            }
            @if let Some(href) = &view.export { (crate::layout::export_link(lang, href, Msg::ExportXlsx)) }
            @if let Some(href) = &view.export_cases { p.export { a.button.secondary href=(href) { (Msg::ExportCases.text(lang)) } } }
            dl.kpis #kpis {
                div { dt { (Msg::Filed.text(lang)) } dd { (t.filed) } }
                div { dt { (Msg::Finished.text(lang)) } dd { (t.finished) } }
                div { dt { (Msg::ApprovalRate.text(lang)) } dd { (percent(t.approval_rate)) } }
                div { dt { (Msg::MeanProcessingTime.text(lang)) } dd { (days(t.mean_working_days, lang)) } }
                div { dt { (Msg::OverdueRate.text(lang)) } dd { (percent(t.overdue_rate)) } }
                div { dt { (Msg::MeanScore.text(lang)) } dd { (t.mean_score.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))) } }
            }
            section.panel aria-labelledby="by-month" {
                h2 #by-month { (Msg::ChartMonthsTitle.text(lang)) }
                (months_chart(lang, &view.months))
            }
            @if !view.places.is_empty() {
                section.panel aria-labelledby="by-place" {
                    h2 #by-place { (Msg::ChartPlacesTitle.text(lang)) }
                    (places_chart(lang, &view.places))
                    div.table role="region" tabindex="0" aria-label=(Msg::ChartPlacesTitle.text(lang)) {
                        table.tasks #places {
                            caption.visually-hidden { (Msg::ChartPlacesTitle.text(lang)) }
                            thead { tr {
                                th scope="col" { (Msg::Place.text(lang)) }
                                th scope="col" { (Msg::Filed.text(lang)) }
                                th scope="col" { (Msg::Finished.text(lang)) }
                                th scope="col" { (Msg::ApprovalRate.text(lang)) }
                                th scope="col" { (Msg::MeanProcessingTime.text(lang)) }
                                th scope="col" { (Msg::OverdueRate.text(lang)) }
                            } }
                            tbody {
                                @for p in &view.places {
                                    tr {
                                        th scope="row" {
                                            @match &p.href {
                                                Some(href) => a href=(href) { (lang.pick(&p.name.zh, &p.name.en)) },
                                                None => (lang.pick(&p.name.zh, &p.name.en)),
                                            }
                                        }
                                        td { (p.figures.filed) }
                                        td { (p.figures.finished) }
                                        td { (percent(p.figures.approval_rate)) }
                                        td { (days(p.figures.mean_working_days, lang)) }
                                        td { (percent(p.figures.overdue_rate)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A published module version as the registry page lists it.
#[derive(Debug, Clone)]
pub struct ModuleRow {
    /// The service it implements.
    pub service: Bilingual,
    /// `name@version`.
    pub label: String,
    /// Who published it.
    pub publisher: String,
    /// Its SM3 digest (the first 16 hex digits).
    pub digest: String,
    /// The signing key's id.
    pub signing_key: String,
    /// When it was published (local time).
    pub published: String,
    /// Why it was yanked, if it was.
    pub yanked: Option<String>,
    /// Where its conformance checks run at this place.
    pub check: String,
}

/// A conformance report as the page shows it.
#[derive(Debug, Clone)]
pub struct ConformanceView {
    /// `name@version`.
    pub label: String,
    /// Whether every check passed.
    pub passed: bool,
    /// Each check: its name, whether it passed, what was found.
    pub checks: Vec<(String, bool, String)>,
    /// The most fuel an example used.
    pub max_fuel: u64,
}

/// The module registry page.
#[derive(Debug, Clone)]
pub struct Modules {
    /// Every version, by name, newest first.
    pub rows: Vec<ModuleRow>,
    /// The report of the checks just run.
    pub report: Option<ConformanceView>,
    /// Why the checks could not run.
    pub outcome: Option<Outcome>,
}

/// The module registry: versions, publishers, SM2 signatures, and the
/// conformance checks run on request with this place's settings.
pub fn modules(frame: &Frame, place: &Place, view: &Modules) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            (place_head(lang, place))
            p { (Msg::ModuleRegistryIntro.text(lang)) }
            (outcome(lang, view.outcome.as_ref()))
            @if let Some(r) = &view.report {
                section.panel #conformance aria-labelledby="conformance-title" {
                    h2 #conformance-title { (Msg::ConformanceOf.text(lang)) code { (r.label) } }
                    @if r.passed {
                        p.notice role="status" { strong { (Msg::ConformancePassed.text(lang)) } " " (Msg::MaxFuel.text(lang)) (r.max_fuel) }
                    } @else {
                        p.error role="alert" { strong { (Msg::ConformanceFailed.text(lang)) } }
                    }
                    ul.checks {
                        @for (name, passed, detail) in &r.checks {
                            li {
                                @if *passed { "✓ " } @else { strong { "✗ " } }
                                code { (name) } " " span.line { (detail) }
                            }
                        }
                    }
                }
            }
            div.table role="region" tabindex="0" aria-label=(Msg::ModuleRegistry.text(lang)) {
                table.tasks #modules {
                    caption.visually-hidden { (Msg::ModuleRegistry.text(lang)) }
                    thead { tr {
                        th scope="col" { (Msg::ModuleVersion.text(lang)) }
                        th scope="col" { (Msg::Matter.text(lang)) }
                        th scope="col" { (Msg::Publisher.text(lang)) }
                        th scope="col" { (Msg::Signature.text(lang)) }
                        th scope="col" { (Msg::Conformance.text(lang)) }
                    } }
                    tbody {
                        @for m in &view.rows {
                            tr {
                                td {
                                    code { (m.label) }
                                    @if let Some(why) = &m.yanked { br; strong.badge.required { (Msg::Yanked.text(lang)) } " " (why) }
                                }
                                td { (lang.pick(&m.service.zh, &m.service.en)) }
                                td { (m.publisher) br; span.line { (m.published) } }
                                td { (Msg::SignedSm2.text(lang)) br; span.line { "SM3 " code { (m.digest) } " · " (m.signing_key) } }
                                td { a href=(m.check) { (Msg::RunConformance.text(lang)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}
