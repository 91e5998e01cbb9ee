//! What a document says and where its seal is: plain data shared by the
//! renderer, the signer and the templates.

/// One block of a document's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A paragraph, its first line indented two characters.
    Paragraph(String),
    /// A line as given, not indented (an addressee, a heading).
    Line(String),
}

/// What an official document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText {
    /// The title, e.g. 行政处罚决定书.
    pub title: String,
    /// The document number (文号), e.g. 浦市监罚〔2026〕7号.
    pub number: String,
    /// The body.
    pub body: Vec<Block>,
    /// The issuing authority as signed (落款), the seal's name.
    pub authority: String,
    /// The date of the document (成文日期), as written: 2026年12月6日.
    pub date: String,
    /// A line under the last page's text, small: how to verify it.
    pub note: String,
}

/// Where the seal was drawn: the page its (invisible) signature widget
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealPlacement {
    /// The page (0-based).
    pub page: usize,
}
