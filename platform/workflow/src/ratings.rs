//! 好差评: the applicant's rating of a finished case (seed 001's evaluation
//! centre) — once per case, a score from 1 (非常不满意) to 5 (非常满意),
//! and a comment, which a poor rating (1 or 2) must give so the bureau
//! learns what went wrong. Recorded with the case's history, its audit
//! record and the dashboards' counts, in one transaction.

use civitas_storage::{Database, TenantScope, TenantTx, with_connection};
use serde::Serialize;
use serde_json::json;

use crate::model::{Case, CaseEvent, Viewer, Who};
use crate::stats::{self, Counts};
use crate::store;
use crate::{Workflow, WorkflowError};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// A case's rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rating {
    /// The case.
    pub case_id: String,
    /// 1 (非常不满意) to 5 (非常满意).
    pub score: i64,
    /// What the applicant said (may be empty for 3 to 5).
    pub comment: String,
    /// When, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub rated_at: i64,
}

/// Whether `score` with `comment` is a rating that may be given: the
/// reason it may not, in Chinese and English, otherwise.
pub fn check(score: i64, comment: &str) -> Result<(), WorkflowError> {
    if !(1..=5).contains(&score) {
        return Err(WorkflowError::Invalid(
            "评分须为 1–5 / the score is from 1 to 5".into(),
        ));
    }
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(WorkflowError::LimitExceeded(format!(
            "评价内容最多 {MAX_COMMENT_CHARS} 个字符 / a comment is at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    if score <= 2 && comment.is_empty() {
        return Err(WorkflowError::Invalid(
            "差评请说明原因 / a poor rating says what went wrong".into(),
        ));
    }
    Ok(())
}

impl Workflow {
    /// The rating of `case`, if it has one.
    pub async fn rating(
        &self,
        tx: &mut TenantTx,
        case: &Case,
    ) -> Result<Option<Rating>, WorkflowError> {
        let found: Option<(i64, String, i64)> = with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT score, comment, rated_at FROM case_ratings WHERE case_id = $1")
                .bind(case.id.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(found.map(|(score, comment, rated_at)| Rating {
            case_id: case.id.clone(),
            score,
            comment,
            rated_at,
        }))
    }

    /// `who`, the applicant of the finished case `id` (seen as `viewer` in
    /// `scope`), rates it `score` with `comment`; once.
    #[allow(clippy::too_many_arguments)]
    pub async fn rate(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        score: i64,
        comment: &str,
    ) -> Result<Rating, WorkflowError> {
        check(score, comment)?;
        let comment = comment.trim().to_owned();
        let mut tx = db.begin(scope).await?;
        let backend = tx.backend();
        store::lock_case(tx.connection(), backend, id, store::IfLocked::Wait).await?;
        let case = self.get(&mut tx, viewer, id).await?;
        if case.applicant.as_deref() != Some(who.account.as_str()) {
            return Err(WorkflowError::NotYourCase(
                "只有申请人可以评价办件 / only the applicant rates a case".into(),
            ));
        }
        if !case.state.is_final() {
            return Err(WorkflowError::NotAllowed(
                "办结后才能评价 / a case is rated once it is finished".into(),
            ));
        }
        if self.rating(&mut tx, &case).await?.is_some() {
            return Err(WorkflowError::NotAllowed(
                "该办件已评价，每件只能评价一次 / the case is rated already; a case is rated once"
                    .into(),
            ));
        }
        let now = self.clock().now_micros();
        store::execute(
            tx.connection(),
            "INSERT INTO case_ratings (case_id, tenant_path, score, comment, rated_by, rated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Some(store::text(&case.id)),
                Some(store::text(case.tenant_path.as_str())),
                Some(store::Bind::Int(score)),
                Some(store::text(&comment)),
                Some(store::text(&who.username)),
                Some(store::Bind::Int(now)),
            ],
        )
        .await?;
        let event = CaseEvent {
            case_id: case.id.clone(),
            seq: 0,
            at: now,
            actor: who.username.clone(),
            action: "rate".into(),
            step: None,
            to_step: None,
            reason: Some(comment.clone()).filter(|c| !c.is_empty()),
            module: None,
            module_version: None,
            detail: json!({ "score": score }),
        };
        store::insert_event(tx.connection(), &event, case.tenant_path.as_str()).await?;
        civitas_audit::record(
            &mut tx,
            &case.tenant_path,
            &civitas_audit::NewEvent {
                actor: who.username.clone(),
                action: "case.rate".into(),
                target: case.id.clone(),
                detail: json!({ "service": case.service, "score": score }),
            },
        )
        .await?;
        stats::add(tx.connection(), &case, &Counts::rated(score)).await?;
        tx.commit().await?;
        Ok(Rating {
            case_id: case.id,
            score,
            comment,
            rated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_is_a_score_from_one_to_five_and_a_poor_one_says_why() {
        assert!(check(5, "").is_ok());
        assert!(check(3, "  ").is_ok());
        assert!(check(1, "等了很久").is_ok());
        for (score, comment) in [(0, "x"), (6, "x"), (2, " "), (1, "")] {
            assert!(check(score, comment).is_err(), "{score} {comment:?}");
        }
        assert!(check(4, &"字".repeat(MAX_COMMENT_CHARS + 1)).is_err());
    }
}
