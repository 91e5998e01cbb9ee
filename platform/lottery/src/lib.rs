//! Public lotteries (摇号) over a district's waiting list.
//!
//! Seed 003 (上海市房屋管理局) asks that talent apartments be drawn by lot
//! per project and unit type (row 127, L1410–1412), "完全随机、不可预测，杜绝
//! 任何人为干预" (L681), and that the result be published. Here a lottery
//! is published before it is drawn, and the draw is a pure function of
//! what was published ([`draw`]): the entries are frozen in a text that
//! names the day of the draw and a public value nobody knows yet; the seed
//! is SM3(text ‖ value), so neither whoever froze the entries nor whoever
//! draws can choose it, and whoever holds the text and the value can
//! recompute every ticket and the order (`civitas lottery verify`).
//!
//! [`waiting_list`] reads a service's admitted applications in a subtree
//! (finished cases no lottery has taken) with the priority score the
//! fairness guard holds for them; [`publish_lottery`] freezes them into a
//! published lottery (each case in one lottery only) with its audit record;
//! [`draw_lottery`] draws it with the public value, on its day, once;
//! [`published`] reads a lottery for anyone.

pub mod draw;
mod store;

pub use draw::{Draw, Entry, FORMAT, Published, Ranked, Verification, verify};
pub use store::{
    DrawRequest, Lottery, LotteryState, PublishRequest, Waiting, draw_lottery, publish_lottery,
    published, waiting_list,
};

/// Why a lottery could not be drawn or read.
#[derive(Debug, thiserror::Error)]
pub enum LotteryError {
    /// The request, or a published text, is not a lottery.
    #[error("{0}")]
    Invalid(String),
    /// The service's flow keeps no guarded priority score.
    #[error(
        "服务 {0} 的流程不记录优先得分（score 未受公平卫士监督） / the flow of {0} keeps no guarded score"
    )]
    NoScore(String),
    /// Nothing to draw: no admitted application of that project and unit
    /// type is waiting.
    #[error("没有待摇号的申请 / no admitted application of that project and unit type is waiting")]
    NothingToDraw,
    /// The lottery is drawn already, or another lottery took one of its
    /// entries first.
    #[error(
        "已摇号，或部分申请已被其他摇号纳入 / drawn already, or another lottery took some of these applications first"
    )]
    AlreadyDrawn,
    /// Its day of the draw has not come.
    #[error("摇号日期（{0}）未到 / the day of the draw ({0}) has not come")]
    NotDue(chrono::NaiveDate),
    /// No such lottery at that tenant.
    #[error("摇号不存在 / no such lottery: {0}")]
    NotFound(String),
    /// Reading the cases failed.
    #[error(transparent)]
    Workflow(#[from] civitas_workflow::WorkflowError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] civitas_storage::StorageError),
    /// Audit failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
}

impl From<sqlx::Error> for LotteryError {
    fn from(e: sqlx::Error) -> LotteryError {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => LotteryError::AlreadyDrawn,
            e => LotteryError::Storage(civitas_storage::StorageError::Database(e)),
        }
    }
}

impl LotteryError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            LotteryError::Invalid(_) | LotteryError::NoScore(_) | LotteryError::NothingToDraw => {
                422
            }
            LotteryError::AlreadyDrawn | LotteryError::NotDue(_) => 409,
            LotteryError::NotFound(_) => 404,
            LotteryError::Workflow(e) => e.status(),
            LotteryError::Storage(e) if e.is_unavailable() => 503,
            LotteryError::Storage(_) | LotteryError::Audit(_) => 500,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            LotteryError::Invalid(_) => "invalid_lottery",
            LotteryError::NoScore(_) => "no_priority_score",
            LotteryError::NothingToDraw => "nothing_to_draw",
            LotteryError::AlreadyDrawn => "already_drawn",
            LotteryError::NotDue(_) => "lottery_not_due",
            LotteryError::NotFound(_) => "lottery_not_found",
            LotteryError::Workflow(e) => e.code(),
            LotteryError::Storage(e) if e.is_unavailable() => "database_unavailable",
            LotteryError::Storage(_) | LotteryError::Audit(_) => "internal",
        }
    }
}
