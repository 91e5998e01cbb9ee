//! The tenant a request names, resolved before routing.
//!
//! Tenant paths contain slashes, so [`resolve_tenant_prefix`] runs in front
//! of the router: it finds where the tenant path ends in
//! `/api/v1/tenants/…` against the in-memory [`TenantDirectory`] (no
//! database query), rewrites the path so the tenant is one segment (its
//! path of codes, slashes encoded), and leaves the answer in the request
//! for the [`Tenant`] extractor. Every tenant route is then an ordinary
//! route such as `/api/v1/tenants/{path}/cases/{id}`, with its own OpenAPI
//! entry, metrics label and `405`/`Allow` answer.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use civitas_storage::TenantRecord;
use civitas_tenancy::{TenantPrefix, split_tenant_prefix};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::AppState;
use crate::error::ApiError;

/// Where tenant routes of the API start.
const PREFIX: &str = "/api/v1/tenants/";

/// Where a tenant's portal pages start (`/t/{slug path}/`).
pub(crate) const PORTAL_PREFIX: &str = "/t/";

/// Where the workbench's pages of a tenant's cases start
/// (`/workbench/t/{path}/cases/{id}`).
pub(crate) const WORKBENCH_PREFIX: &str = "/workbench/t/";

/// Where the console's pages of a tenant start
/// (`/console/t/{path}/accounts`, …).
pub(crate) const CONSOLE_PREFIX: &str = "/console/t/";

/// Characters escaped in a rewritten path segment: everything a segment
/// may not hold as it is, and `/` so a tenant path stays one segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The active tenants, by path of codes and by slug path: what the router
/// resolves tenant prefixes against.
#[derive(Debug, Default)]
pub struct TenantDirectory {
    by_path: HashMap<String, Arc<TenantRecord>>,
    by_slug_path: HashMap<String, Arc<TenantRecord>>,
    records: Vec<Arc<TenantRecord>>,
}

impl TenantDirectory {
    /// A directory of `records` (the active tenants, parents first).
    pub fn new(records: Vec<TenantRecord>) -> TenantDirectory {
        let records: Vec<Arc<TenantRecord>> = records.into_iter().map(Arc::new).collect();
        TenantDirectory {
            by_path: records
                .iter()
                .map(|r| (r.path.to_string(), r.clone()))
                .collect(),
            by_slug_path: records
                .iter()
                .map(|r| (r.slug_path.clone(), r.clone()))
                .collect(),
            records,
        }
    }

    /// The active tenants in `db`.
    pub async fn load(
        db: &civitas_storage::Database,
    ) -> Result<TenantDirectory, civitas_storage::StorageError> {
        Ok(TenantDirectory::new(db.tenants().await?))
    }

    /// The tenant a reference (path of codes or slug path) names.
    pub fn get(&self, reference: &str) -> Option<&Arc<TenantRecord>> {
        let reference = reference.trim_matches('/');
        self.by_path
            .get(reference)
            .or_else(|| self.by_slug_path.get(reference))
    }

    /// Every active tenant, parents before children.
    pub fn records(&self) -> &[Arc<TenantRecord>] {
        &self.records
    }

    /// A root (no parent) or a child of `parent`, by code or slug.
    fn child(
        &self,
        parent: Option<&Arc<TenantRecord>>,
        segment: &str,
    ) -> Option<Arc<TenantRecord>> {
        let (by_code, by_slug) = match parent {
            None => (segment.to_owned(), segment.to_owned()),
            Some(p) => (
                format!("{}/{segment}", p.path),
                format!("{}/{segment}", p.slug_path),
            ),
        };
        self.by_path
            .get(&by_code)
            .or_else(|| self.by_slug_path.get(&by_slug))
            .cloned()
    }
}

/// The directory a running node resolves requests against: replaced whole
/// when the node loads a new tree revision, so a request sees one directory
/// from start to end.
#[derive(Debug, Clone, Default)]
pub struct SharedDirectory {
    current: Arc<RwLock<Arc<TenantDirectory>>>,
}

impl SharedDirectory {
    /// A handle serving `directory`.
    pub fn new(directory: TenantDirectory) -> SharedDirectory {
        SharedDirectory {
            current: Arc::new(RwLock::new(Arc::new(directory))),
        }
    }

    /// The directory now.
    pub fn current(&self) -> Arc<TenantDirectory> {
        // A writer only swaps an Arc: a poisoned lock still holds a whole one.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `directory` from now on, to every holder of this handle.
    pub fn replace(&self, directory: TenantDirectory) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(directory);
    }
}

/// What [`resolve_tenant_prefix`] found, for the [`Tenant`] extractor (and
/// the portal's).
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    Found(Arc<TenantRecord>),
    Unknown(String),
}

/// Middleware in front of the router: resolves the tenant prefix of
/// `/api/v1/tenants/…`, `/t/…`, `/workbench/t/…` and `/console/t/…` paths and rewrites them to
/// `{prefix}{codes with %2F}/{rest}`. A portal path's trailing slash (its
/// home, `/t/shanghai/pudong/`) stays after the tenant.
pub(crate) async fn resolve_tenant_prefix(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let found = match path.strip_prefix(PREFIX) {
        Some(tail) => Some((PREFIX, tail.to_owned(), false)),
        None => [PORTAL_PREFIX, WORKBENCH_PREFIX, CONSOLE_PREFIX]
            .into_iter()
            .find_map(|prefix| {
                path.strip_prefix(prefix)
                    .map(|tail| match tail.strip_suffix('/') {
                        Some(trimmed) => (prefix, trimmed.to_owned(), true),
                        None => (prefix, tail.to_owned(), false),
                    })
            }),
    };
    if let Some((prefix, tail, slash)) = found {
        let directory = state.tenants();
        let split = split_tenant_prefix(&tail, |parent, segment| directory.child(parent, segment));
        let rewritten = match split {
            TenantPrefix::Tenant { tenant, rest, .. } => {
                let path = tenant.path.to_string();
                request
                    .extensions_mut()
                    .insert(Resolved::Found(tenant.clone()));
                Some((path, rest))
            }
            TenantPrefix::Unknown { reference, rest } => {
                request
                    .extensions_mut()
                    .insert(Resolved::Unknown(reference.clone()));
                Some((reference, rest))
            }
            TenantPrefix::NotTenant => None,
        };
        if let Some((tenant, mut rest)) = rewritten {
            if slash {
                rest.push(String::new());
            }
            if let Some(uri) = rewrite(request.uri(), prefix, &tenant, &rest) {
                *request.uri_mut() = uri;
            }
        }
    }
    next.run(request).await
}

/// `{prefix}{tenant}/{rest…}` with the original query.
fn rewrite(uri: &Uri, prefix: &str, tenant: &str, rest: &[String]) -> Option<Uri> {
    let mut path = format!("{prefix}{}", utf8_percent_encode(tenant, SEGMENT));
    for segment in rest {
        path.push('/');
        path.extend(utf8_percent_encode(segment, SEGMENT));
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The tenant named by the request path (`/api/v1/tenants/{path}/…`),
/// resolved in memory before routing; 404 `tenant_not_found` when the path
/// names no active tenant.
#[derive(Debug, Clone)]
pub(crate) struct Tenant(pub(crate) Arc<TenantRecord>);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Tenant, ApiError> {
        match parts.extensions.get::<Resolved>() {
            Some(Resolved::Found(tenant)) => {
                tracing::Span::current().record("tenant", tenant.path.as_str());
                Ok(Tenant(tenant.clone()))
            }
            Some(Resolved::Unknown(reference)) => Err(ApiError::tenant_not_found(reference)),
            // A tenant route reached without the layer: a wiring mistake.
            None => {
                tracing::error!("tenant resolution is not wired in front of this route");
                Err(ApiError::internal())
            }
        }
    }
}

impl std::ops::Deref for Tenant {
    type Target = TenantRecord;

    fn deref(&self) -> &TenantRecord {
        &self.0
    }
}
