//! Attachments: a case's supporting documents (metadata with an SM3
//! digest; the file itself in document storage when the platform keeps
//! it), added while the case is open, under a cap, on the case's history
//! and the audit chain.

use civitas_storage::{Database, TenantScope, TenantTx};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::WorkflowError;
use crate::cases::Workflow;
use crate::model::{Case, CaseEvent, Viewer, Who, at_most};
use crate::store::{self, Bind, text};

/// Attachment metadata (the file itself lives in document storage).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    /// Its id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its SM3 digest (hex), to verify the stored file.
    pub sm3: String,
    /// Whether the file itself was uploaded and is kept by the platform
    /// (downloadable); otherwise the client keeps it and this is metadata.
    pub stored: bool,
    /// Who added it.
    pub added_by: String,
    /// When, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: i64,
}

/// A new attachment's metadata.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAttachment {
    /// The file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its SM3 digest (64 hex digits).
    pub sm3: String,
}

/// A `case_attachments` row as stored.
#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: String,
    case_id: String,
    name: String,
    media_type: String,
    size: i64,
    sm3: String,
    stored: bool,
    added_by: String,
    added_at: i64,
}

impl AttachmentRow {
    fn decode(self) -> Result<Attachment, WorkflowError> {
        // Both were checked when written: anything else is not what the
        // workflow stored.
        if self.size < 0 {
            return Err(crate::corrupt(format!(
                "case attachment {}: size {} is negative",
                self.id, self.size
            )));
        }
        if !is_sm3_hex(&self.sm3) {
            return Err(crate::corrupt(format!(
                "case attachment {}: sm3 is not 64 hex digits",
                self.id
            )));
        }
        Ok(Attachment {
            id: self.id,
            case_id: self.case_id,
            name: self.name,
            media_type: self.media_type,
            size: self.size,
            sm3: self.sm3,
            stored: self.stored,
            added_by: self.added_by,
            added_at: self.added_at,
        })
    }
}

fn is_sm3_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The case takes another attachment: open, and under the cap.
async fn open_for_attachments(tx: &mut TenantTx, case: &Case) -> Result<(), WorkflowError> {
    if case.state.is_final() {
        return Err(WorkflowError::NotAllowed(format!(
            "案件已结束（{}），不能再添加附件 / the case is {} and takes no attachments",
            case.state.as_str(),
            case.state.as_str()
        )));
    }
    let held: i64 = civitas_storage::with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT COUNT(*) FROM case_attachments WHERE case_id = $1")
            .bind(case.id.clone())
            .fetch_one(&mut *c)
            .await?
    });
    if held >= crate::MAX_ATTACHMENTS_PER_CASE {
        return Err(WorkflowError::LimitExceeded(format!(
            "每个案件最多 {max} 个附件 / a case holds at most {max} attachments",
            max = crate::MAX_ATTACHMENTS_PER_CASE
        )));
    }
    Ok(())
}

impl Workflow {
    /// The attachments of a case already read (at most
    /// [`crate::MAX_ATTACHMENTS_PER_CASE`]).
    pub async fn attachments(
        &self,
        tx: &mut TenantTx,
        case: &Case,
    ) -> Result<Vec<Attachment>, WorkflowError> {
        // The cap on attaching bounds this list; the LIMIT keeps a read
        // bounded even if rows were added some other way.
        let sql = format!(
            "SELECT id, case_id, name, media_type, size, sm3, stored, added_by, added_at FROM case_attachments \
             WHERE case_id = $1 ORDER BY added_at, id LIMIT {}",
            crate::MAX_ATTACHMENTS_PER_CASE
        );
        let rows: Vec<AttachmentRow> = civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(case.id.clone()).fetch_all(&mut *c).await?
        });
        rows.into_iter().map(AttachmentRow::decode).collect()
    }

    /// Records attachment metadata on the case `id` (visible to `viewer`
    /// in `scope`); finished cases take no more. The file stays with the
    /// client: the platform never serves it.
    pub async fn attach(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
    ) -> Result<Attachment, WorkflowError> {
        self.record_attachment(db, scope, viewer, who, id, new, false)
            .await
    }

    /// Records a document the platform keeps (uploaded, stored by its
    /// SM3 digest) on the case `id`: the one kind of attachment served.
    pub async fn attach_document(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
    ) -> Result<Attachment, WorkflowError> {
        self.record_attachment(db, scope, viewer, who, id, new, true)
            .await
    }

    /// Whether the case `id` (visible to `viewer` in `tx`'s scope) takes
    /// another attachment: open, and under the cap.
    pub async fn takes_attachments(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        id: &str,
    ) -> Result<(), WorkflowError> {
        let case = self.get(tx, viewer, id).await?;
        open_for_attachments(tx, &case).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_attachment(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
        stored: bool,
    ) -> Result<Attachment, WorkflowError> {
        let name = new.name.trim();
        at_most(
            name,
            crate::MAX_ATTACHMENT_NAME_CHARS,
            "附件名",
            "attachment name",
        )?;
        if name.is_empty() || name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            return Err(WorkflowError::Invalid(
                "附件名必填，且不含路径或控制字符 / the name is required, without a path or control characters"
                    .into(),
            ));
        }
        if !is_sm3_hex(&new.sm3) {
            return Err(WorkflowError::Invalid(
                "sm3 须为 64 位十六进制 / sm3 is 64 hex digits".into(),
            ));
        }
        let media_type = new.media_type.trim();
        at_most(
            media_type,
            crate::MAX_MEDIA_TYPE_CHARS,
            "media_type",
            "media type",
        )?;
        // A media type is ASCII `type/subtype` (RFC 6838), parameters allowed.
        let well_formed = media_type
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && media_type
                .bytes()
                .all(|b| b.is_ascii_graphic() || b == b' ');
        if new.size < 0 || !well_formed {
            return Err(WorkflowError::Invalid(
                "size 不能为负，media_type 须为 type/subtype / size is not negative and media_type is type/subtype"
                    .into(),
            ));
        }
        let mut tx = db.begin(scope).await?;
        // Locked before it is read: a concurrent action or timer appends to
        // the same history, and a case closed meanwhile takes nothing.
        let backend = tx.backend();
        store::lock_case(tx.connection(), backend, id, store::IfLocked::Wait).await?;
        let case = self.get(&mut tx, viewer, id).await?;
        // Counted under the case's lock: two uploads at once cannot both
        // take the last place.
        open_for_attachments(&mut tx, &case).await?;
        let attachment = Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: case.id.clone(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size: new.size,
            sm3: new.sm3.to_ascii_lowercase(),
            stored,
            added_by: who.username.clone(),
            added_at: self.clock().now_micros(),
        };
        store::execute(
            tx.connection(),
            &format!(
                "INSERT INTO case_attachments (id, case_id, tenant_path, name, media_type, size, sm3, added_by, added_at, stored) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {})",
                if stored { "TRUE" } else { "FALSE" }
            ),
            &[
                Some(text(&attachment.id)),
                Some(text(&case.id)),
                Some(text(case.tenant_path.as_str())),
                Some(text(&attachment.name)),
                Some(text(&attachment.media_type)),
                Some(Bind::Int(attachment.size)),
                Some(text(&attachment.sm3)),
                Some(text(&attachment.added_by)),
                Some(Bind::Int(attachment.added_at)),
            ],
        )
        .await?;
        let event = CaseEvent {
            case_id: case.id.clone(),
            seq: 0,
            at: attachment.added_at,
            actor: who.username.clone(),
            action: "attach".into(),
            step: case.step.clone(),
            to_step: None,
            reason: None,
            module: None,
            module_version: None,
            detail: json!({"attachment": attachment.id, "name": attachment.name, "sm3": attachment.sm3}),
        };
        store::insert_event(tx.connection(), &event, case.tenant_path.as_str()).await?;
        self.audit(&mut tx, &case, "case.attach", &event).await?;
        tx.commit().await?;
        Ok(attachment)
    }
}
