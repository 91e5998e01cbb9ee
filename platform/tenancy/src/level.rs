//! The levels of the tree, from configuration (`tenants/levels.toml`): what
//! each is called, where it may hang and what its codes look like.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::code::{DivisionCode, Level};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::load::{self, Source};

/// The file, at the root of the tenants directory, that defines the levels.
/// Without it the tree has the [`standard_levels`].
pub const LEVELS_FILE: &str = "levels.toml";

/// What a level's codes look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeScheme {
    /// An official division code of this many digits (6, 9 or 12); a
    /// child's code starts with its parent's (a community's twelve digits
    /// with its street's nine).
    Digits(usize),
    /// A unit code with this prefix (`U-`), of the node's own choosing.
    Prefix(String),
}

/// One level of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelDef {
    /// The name nodes and flows use, e.g. `community`.
    pub name: Level,
    /// The Chinese name, e.g. 社区/村.
    pub name_zh: String,
    /// The English name.
    pub name_en: String,
    /// Whether a node of this level may be a root of the tree.
    pub root: bool,
    /// The levels a node of this level may hang under.
    pub parents: Vec<Level>,
    /// What its codes look like.
    pub code: CodeScheme,
}

impl LevelDef {
    /// Whether `code` has this level's form.
    pub fn fits(&self, code: &DivisionCode) -> bool {
        match &self.code {
            CodeScheme::Digits(n) => code.is_division() && code.as_str().len() == *n,
            CodeScheme::Prefix(prefix) => !code.is_division() && code.as_str().starts_with(prefix),
        }
    }

    /// What a code of this level looks like, in words.
    pub fn code_form(&self) -> String {
        match &self.code {
            CodeScheme::Digits(n) => format!("{n}位数字 ({n} digits)"),
            CodeScheme::Prefix(p) => format!("以 {p} 开头 (starting with {p})"),
        }
    }

    /// Whether the level may hang under `parent` (`None`: be a root).
    pub fn may_hang_under(&self, parent: Option<&Level>) -> bool {
        match parent {
            None => self.root,
            Some(parent) => self.parents.contains(parent),
        }
    }
}

fn def(
    name: &str,
    name_zh: &str,
    name_en: &str,
    root: bool,
    parents: &[&str],
    code: CodeScheme,
) -> LevelDef {
    let level = |s: &str| Level::parse(s).unwrap_or_else(|| unreachable!("{s} is a level name"));
    LevelDef {
        name: level(name),
        name_zh: name_zh.to_owned(),
        name_en: name_en.to_owned(),
        root,
        parents: parents.iter().map(|p| level(p)).collect(),
        code,
    }
}

/// China's administrative divisions: province, city (a root for a
/// municipality), district or county, street or township, community or
/// village. A tree without `levels.toml` has these.
pub fn standard_levels() -> Vec<LevelDef> {
    vec![
        def(
            "province",
            "省",
            "Province",
            true,
            &[],
            CodeScheme::Digits(6),
        ),
        def(
            "city",
            "市",
            "City",
            true,
            &["province"],
            CodeScheme::Digits(6),
        ),
        def(
            "district",
            "区县",
            "District or county",
            false,
            &["city"],
            CodeScheme::Digits(6),
        ),
        def(
            "street",
            "街镇",
            "Street or township",
            false,
            &["district"],
            CodeScheme::Digits(9),
        ),
        def(
            "community",
            "社区/村",
            "Community or village",
            false,
            &["street"],
            CodeScheme::Digits(12),
        ),
    ]
}

/// `levels.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevels {
    #[serde(default)]
    level: Vec<RawLevel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    name: Spanned<String>,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    root: bool,
    #[serde(default)]
    parents: Vec<Spanned<String>>,
    code_digits: Option<usize>,
    code_prefix: Option<String>,
}

/// Parses and checks `levels.toml`: names well-formed and unique, parents
/// defined, one code form each.
pub(crate) fn parse_levels(source: &Source, errors: &mut Vec<ConfigError>) -> Vec<LevelDef> {
    let raw = match load::parse::<RawLevels>(source) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let names: BTreeSet<&str> = raw
        .level
        .iter()
        .map(|l| l.name.get_ref().as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut levels = Vec::new();
    let mut bad = |at: usize, message: String| {
        errors.push(source.error(Some(at), ConfigErrorKind::LevelDefinition(message)));
    };
    for level in &raw.level {
        let at = level.name.span().start;
        let Some(name) = Level::parse(level.name.get_ref()) else {
            bad(
                at,
                format!(
                    "层级名须为小写字母开头的字母、数字和连字符 (a level name is lowercase letters, digits and dashes): {:?}",
                    level.name.get_ref()
                ),
            );
            continue;
        };
        // Flows write `at = "case"`, `"parent"` or `"ancestor:<level>"`.
        if matches!(name.as_str(), "case" | "parent" | "ancestor") {
            bad(
                at,
                format!("层级名 {name} 是流程的保留字 (is a word flows reserve)"),
            );
            continue;
        }
        if !seen.insert(name.clone()) {
            bad(at, format!("层级重复 (defined twice): {name}"));
            continue;
        }
        let mut parents = Vec::new();
        for parent in &level.parents {
            if names.contains(parent.get_ref().as_str()) {
                parents.extend(Level::parse(parent.get_ref()));
            } else {
                bad(
                    parent.span().start,
                    format!(
                        "上级层级未定义 (the parent level is not defined): {:?}",
                        parent.get_ref()
                    ),
                );
            }
        }
        if !level.root && level.parents.is_empty() {
            bad(
                at,
                format!("层级 {name} 既不是根也没有上级 (is neither a root nor under any level)"),
            );
        }
        let code = match (level.code_digits, &level.code_prefix) {
            (Some(n @ (6 | 9 | 12)), None) => CodeScheme::Digits(n),
            (None, Some(prefix))
                if DivisionCode::parse(&format!("{prefix}A")).is_some_and(|c| !c.is_division())
                    && prefix.ends_with('-') =>
            {
                CodeScheme::Prefix(prefix.clone())
            }
            _ => {
                bad(
                    at,
                    format!(
                        "层级 {name} 须有 code_digits = 6、9 或 12，或 code_prefix（1–4 个大写字母加 -，如 \"U-\"），二者取一 (needs code_digits = 6, 9 or 12, or a code_prefix such as \"U-\", not both)"
                    ),
                );
                continue;
            }
        };
        levels.push(LevelDef {
            name,
            name_zh: level.name_zh.clone(),
            name_en: level.name_en.clone(),
            root: level.root,
            parents,
            code,
        });
    }
    if raw.level.is_empty() {
        errors.push(source.error(
            None,
            ConfigErrorKind::LevelDefinition("没有定义任何层级 (no level is defined)".into()),
        ));
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<LevelDef>, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let levels = parse_levels(&Source::new(LEVELS_FILE, text), &mut errors);
        (levels, errors)
    }

    #[test]
    fn levels_name_their_parents_and_code_form() {
        let (levels, errors) = parse(
            "[[level]]\nname = \"city\"\nname_zh = \"市\"\nname_en = \"City\"\nroot = true\ncode_digits = 6\n\
             [[level]]\nname = \"unit\"\nname_zh = \"单位\"\nname_en = \"Unit\"\nparents = [\"city\", \"unit\"]\ncode_prefix = \"U-\"\n",
        );
        assert_eq!(errors, []);
        let unit = &levels[1];
        assert!(unit.may_hang_under(Some(&Level::parse("unit").unwrap())));
        assert!(!unit.may_hang_under(None));
        assert!(unit.fits(&DivisionCode::parse("U-LJZ01").unwrap()));
        assert!(!unit.fits(&DivisionCode::parse("310115").unwrap()));
        assert!(levels[0].fits(&DivisionCode::parse("310000").unwrap()));
    }

    #[test]
    fn every_bad_definition_is_named_with_its_line() {
        let (_, errors) = parse(
            "[[level]]\nname = \"City\"\nname_zh = \"市\"\nname_en = \"City\"\nroot = true\ncode_digits = 6\n\
             [[level]]\nname = \"street\"\nname_zh = \"街\"\nname_en = \"Street\"\nparents = [\"district\"]\ncode_digits = 9\n\
             [[level]]\nname = \"odd\"\nname_zh = \"怪\"\nname_en = \"Odd\"\nroot = true\ncode_digits = 7\n\
             [[level]]\nname = \"loose\"\nname_zh = \"散\"\nname_en = \"Loose\"\ncode_prefix = \"u-\"\n",
        );
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        let (_, reserved) = parse(
            "[[level]]\nname = \"parent\"\nname_zh = \"上级\"\nname_en = \"Parent\"\nroot = true\ncode_digits = 6\n",
        );
        assert!(reserved[0].to_string().contains("保留字"), "{reserved:?}");
        assert_eq!(
            lines,
            [Some(2), Some(11), Some(14), Some(20), Some(20)],
            "{errors:?}"
        );
    }
}
