//! Exports: a list the caller may read, as an `.xlsx` file.
//!
//! Each list route has an `…/export` sibling that takes the list's filters,
//! reads every page with the same authorization and masking as the list
//! (the same functions), and writes the rows with [`civitas_export`] in
//! constant memory. Before the file is sent, the export is recorded in the
//! tenant's audit log — who, what, the filter, how many rows, the file's
//! size and SM3 digest — in its own transaction: a file whose record could
//! not be written is never sent. The answer carries the rows and the digest
//! in headers (`x-export-rows`, `x-export-sm3`) and its length, so a
//! browser or the CLI shows the download's progress.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_export::{Column, ExportError, Exported, SheetWriter};
use civitas_storage::TenantScope;
use civitas_tenancy::TenantPath;
use serde_json::Value;

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;

/// The media type of an `.xlsx` workbook.
pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Rows read per page while exporting: the list routes' largest page.
pub(crate) const PAGE: u32 = 200;

/// What is exported, for the file's name and the audit record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    /// The audit action (`case.export`, …).
    pub(crate) action: &'static str,
    /// The worksheet's and the file's name, Chinese.
    pub(crate) zh: &'static str,
    /// The same, English (the file name's ASCII fallback).
    pub(crate) en: &'static str,
}

/// A new workbook for `kind` with `columns`.
pub(crate) fn sheet(kind: Kind, columns: Vec<Column>) -> Result<SheetWriter, ApiError> {
    SheetWriter::new(&format!("{} {}", kind.zh, kind.en), columns, None).map_err(export_error)
}

/// An error of writing an export, as the API answers it.
pub(crate) fn export_error(error: ExportError) -> ApiError {
    match error {
        ExportError::TooManyRows => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "export_too_large",
            format!(
                "导出超过 {} 行（一个工作表的上限），请缩小筛选范围",
                civitas_export::MAX_ROWS
            ),
            format!(
                "The export would exceed {} rows, the most one worksheet holds; narrow the filter",
                civitas_export::MAX_ROWS
            ),
        ),
        other => {
            tracing::error!(error = %other, "export failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export_failed",
                "导出文件写入失败，请稍后重试",
                "The export could not be written; try again later",
            )
        }
    }
}

/// Finishes `sheet` off the async threads, records the export at `tenant`
/// (`filter`: what the caller asked for) within `scope`, and answers with
/// the file.
pub(crate) async fn respond(
    state: &AppState,
    caller: &Caller,
    scope: &TenantScope,
    tenant: &TenantPath,
    kind: Kind,
    filter: Value,
    sheet: SheetWriter,
) -> Result<Response, ApiError> {
    let rows = sheet.rows();
    respond_across(state, caller, &[(scope, rows)], tenant, kind, filter, sheet).await
}

/// As [`respond`] for an export that spans several places (the inbox, over
/// every grant): one audit record at each scope's tenant, with the rows of
/// the export that are that place's.
pub(crate) async fn respond_across(
    state: &AppState,
    caller: &Caller,
    places: &[(&TenantScope, u32)],
    named: &TenantPath,
    kind: Kind,
    filter: Value,
    sheet: SheetWriter,
) -> Result<Response, ApiError> {
    let exported = tokio::task::spawn_blocking(move || sheet.finish())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "export task failed");
            ApiError::internal()
        })?
        .map_err(export_error)?;
    let sm3 = hex::encode(exported.sm3);
    for (scope, rows_here) in places {
        let mut tx = state.db().begin(scope).await?;
        civitas_audit::record(
            &mut tx,
            scope.path(),
            &civitas_audit::NewEvent {
                actor: caller.username().to_owned(),
                action: kind.action.to_owned(),
                target: format!("export:{}", kind.en.to_lowercase().replace(' ', "-")),
                detail: serde_json::json!({
                    "filter": filter,
                    "rows": exported.rows,
                    "rows_here": rows_here,
                    "bytes": exported.bytes,
                    "sm3": sm3,
                }),
            },
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "audit record failed");
            ApiError::internal()
        })?;
        tx.commit().await?;
    }
    Ok(file_response(kind, named, exported, &sm3))
}

/// The file as an attachment named `<kind>-<tenant>-<date>.xlsx`, read in
/// chunks by a blocking thread as the client takes them.
fn file_response(kind: Kind, tenant: &TenantPath, exported: Exported, sm3: &str) -> Response {
    let date = civitas_workflow::today_in_china();
    let place = tenant.as_str().replace('/', "-");
    let name = format!("{}-{place}-{date}.xlsx", kind.zh);
    let fallback = format!(
        "{}-{place}-{date}.xlsx",
        kind.en.to_lowercase().replace(' ', "-")
    );
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Exported {
        file, bytes, rows, ..
    } = exported;
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, XLSX.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (
                header::HeaderName::from_static("x-export-rows"),
                rows.to_string(),
            ),
            (
                header::HeaderName::from_static("x-export-sm3"),
                sm3.to_owned(),
            ),
        ],
        Body::from_stream(chunks(file)),
    )
        .into_response()
}

/// The file's bytes in chunks of 64 KiB, read on a blocking thread that
/// stays at most a few chunks ahead of the client.
fn chunks(
    mut file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use std::io::Read;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            let read = match file.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            };
            buffer.truncate(read);
            // The client went away: stop reading (the file goes with us).
            if sender
                .blocking_send(Ok(bytes::Bytes::from(buffer)))
                .is_err()
            {
                return;
            }
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    })
}
