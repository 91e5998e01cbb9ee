//! Configuration errors, each naming the file and line it was found at.

use std::fmt;
use std::path::PathBuf;

/// What is wrong with a tenant configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// The directory or a file could not be read.
    #[error("无法读取 (cannot read): {0}")]
    Io(String),
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("格式错误 (malformed): {0}")]
    Syntax(String),
    /// `tenants/lines.toml` is missing.
    #[error("缺少条线定义文件 lines.toml (missing lines.toml, the list of lines of business)")]
    MissingLines,
    /// A code is neither 6, 9 or 12 digits nor a unit code (`U-LJZ01`).
    #[error(
        "代码格式错误 (bad code format): {code:?} — 应为6、9或12位数字，或单位代码如 U-LJZ01 (expected 6, 9 or 12 digits, or a unit code such as U-LJZ01)"
    )]
    BadCode {
        /// The code as written.
        code: String,
    },
    /// The code does not have the level's form (a street needs nine digits,
    /// a unit its prefix).
    #[error("代码 {code} 与层级 {level} 不符 (code does not fit level): 应为 {expected}")]
    CodeLevelMismatch {
        /// The code as written.
        code: String,
        /// The level declared.
        level: String,
        /// The form the level's codes take, in both languages.
        expected: String,
    },
    /// The child's code does not start with its parent's prefix.
    #[error(
        "代码 {code} 不属于上级 {parent} (code is not within its parent's division): 应以 {prefix} 开头 (expected to start with {prefix})"
    )]
    CodePrefixMismatch {
        /// The child's code.
        code: String,
        /// The parent's code.
        parent: String,
        /// The prefix the child's code should start with.
        prefix: String,
    },
    /// The level name is not defined (in `levels.toml`, or among the
    /// standard levels without it).
    #[error("未知层级 (unknown level): {0:?} — 请在 levels.toml 中定义 (define it in levels.toml)")]
    UnknownLevel(String),
    /// `levels.toml` defines a level badly.
    #[error("层级定义错误 (bad level definition): {0}")]
    LevelDefinition(String),
    /// Two files declare the same code.
    #[error("代码重复 (duplicate code): {code} 已在 {other} 中定义 (already defined in {other})")]
    DuplicateCode {
        /// The duplicated code.
        code: String,
        /// The file that declared it first.
        other: String,
    },
    /// Two nodes of the same parent share a slug.
    #[error(
        "同级别名重复 (duplicate slug among siblings): {slug:?} 已在 {other} 中使用 (already used in {other})"
    )]
    DuplicateSlug {
        /// The duplicated slug.
        slug: String,
        /// The file that used it first.
        other: String,
    },
    /// A slug is not lower-case ASCII letters, digits and dashes starting with a letter.
    #[error(
        "别名格式错误 (bad slug): {0:?} — 应为小写字母开头的字母、数字和连字符，且不是接口保留字（staff、cases 等）(lower-case letters, digits and dashes, starting with a letter, and not a word the API reserves: staff, cases…)"
    )]
    BadSlug(String),
    /// The parent code names no node.
    #[error("上级不存在 (unknown parent): {0}")]
    UnknownParent(String),
    /// The parent chain comes back to itself.
    #[error("上级关系成环 (parent cycle): {0}")]
    Cycle(String),
    /// The level may not hang under the parent's level (a street under a city).
    #[error(
        "层级不符 (level mismatch): {level} 不能位于 {parent_level} 之下 (a {level} cannot be under a {parent_level})"
    )]
    LevelMismatch {
        /// This node's level.
        level: String,
        /// The parent's level, or `root`.
        parent_level: String,
    },
    /// A node names a line that `lines.toml` does not define.
    #[error("未知条线 (unknown line): {0:?} — 请在 lines.toml 中定义 (define it in lines.toml)")]
    UnknownLine(String),
    /// `lines.toml` defines a line twice.
    #[error("条线重复 (duplicate line): {0:?}")]
    DuplicateLine(String),
    /// The directory holds no tenant at all.
    #[error("没有任何租户 (no tenant defined)")]
    Empty,
}

/// One problem in a tenant configuration, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, relative to the tenants directory where possible.
    pub file: PathBuf,
    /// The 1-based line, when the problem is at a place in the file.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.kind),
            None => write!(f, "{}: {}", self.file.display(), self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a tenant configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no problem (never true for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "租户配置有 {n} 个问题 (tenant configuration has {n} problem(s)):",
            n = self.0.len()
        )?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
