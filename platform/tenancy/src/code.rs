//! Division codes, levels and tenant paths: the vocabulary of the tree.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The level of a node: a name the tree's configuration defines
/// (`levels.toml`; [`crate::LevelDef`]), such as `city`, `street`,
/// `community` or `unit`. Nothing assumes a fixed set or number of levels.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "street")]
pub struct Level(String);

impl Level {
    /// A level name: 1–32 lowercase ASCII letters, digits or `-`, starting
    /// with a letter. Whether the tree defines it is the tree's to say.
    pub fn parse(s: &str) -> Option<Level> {
        let mut bytes = s.bytes();
        let ok = matches!(bytes.next(), Some(b'a'..=b'z'))
            && s.len() <= 32
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Level(s.to_owned()))
    }

    /// The name used in configuration files and the API (`city`, `street`…).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Level {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Level::parse(&s).ok_or_else(|| format!("not a level name: {s:?}"))
    }
}

impl From<Level> for String {
    fn from(level: Level) -> String {
        level.0
    }
}

/// A node's code: an official division code — six digits (GB/T 2260,
/// province to county), nine (township) or twelve (community or village,
/// the statistical division code) — or the code of a unit node that is no
/// division (a street's service centre, a bureau's subordinate unit): an
/// uppercase prefix of 1–4 letters, `-`, then 1–24 uppercase letters or
/// digits (`U-LJZ01`).
///
/// A unit code has exactly one `-`, after its letters: a code that extends
/// a sibling's continues with a letter or digit (sorting after `/`), so a
/// subtree stays one contiguous range of paths
/// ([`TenantPath::subtree_range`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

impl DivisionCode {
    /// Parses a code: 6, 9 or 12 ASCII digits not starting with `0`, or a
    /// unit code such as `U-LJZ01`.
    pub fn parse(s: &str) -> Option<DivisionCode> {
        let division = matches!(s.len(), 6 | 9 | 12)
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        let unit = s.split_once('-').is_some_and(|(prefix, rest)| {
            (1..=4).contains(&prefix.len())
                && prefix.bytes().all(|b| b.is_ascii_uppercase())
                && (1..=24).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        });
        (division || unit).then(|| DivisionCode(s.to_owned()))
    }

    /// Whether this is an official division code (digits), not a unit's.
    pub fn is_division(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix that every division code below this one starts with: a
    /// six-digit code without its trailing `00` pairs (`310000` → `31`,
    /// `511700` → `5117`, `310115` → `310115`), a nine- or twelve-digit
    /// code (or a unit code) itself.
    pub fn child_prefix(&self) -> &str {
        if self.0.len() != 6 {
            return &self.0;
        }
        let mut prefix = self.0.as_str();
        while prefix.len() > 2 && prefix.ends_with("00") {
            prefix = &prefix[..prefix.len() - 2];
        }
        prefix
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DivisionCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DivisionCode::parse(&s).ok_or_else(|| format!("not a division code: {s:?}"))
    }
}

impl From<DivisionCode> for String {
    fn from(code: DivisionCode) -> String {
        code.0
    }
}

/// Why a string is not a tenant path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("不是有效的租户路径 (not a tenant path): {0:?}")]
pub struct TenantPathError(pub String);

/// The path of a tenant: its division codes from the root down, joined by
/// `/`, e.g. `310000/310115/310115005`.
///
/// Paths sort so that a node comes right before its subtree, and a subtree
/// is a contiguous range: a node and its descendants lie in `[P, P0)`, which
/// is how storage queries a subtree through an ordinary index.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "310000/310115/310115005")]
pub struct TenantPath(String);

impl TenantPath {
    /// Parses a path of division codes separated by `/`.
    pub fn parse(s: &str) -> Result<TenantPath, TenantPathError> {
        let ok = !s.is_empty() && s.split('/').all(|code| DivisionCode::parse(code).is_some());
        if ok {
            Ok(TenantPath(s.to_owned()))
        } else {
            Err(TenantPathError(s.to_owned()))
        }
    }

    /// A path of one code: the root of a tree.
    pub fn root(code: &DivisionCode) -> TenantPath {
        TenantPath(code.0.clone())
    }

    /// This path extended by a child code.
    pub fn child(&self, code: &DivisionCode) -> TenantPath {
        TenantPath(format!("{}/{}", self.0, code.0))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code of the node the path names (its last segment).
    pub fn code(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// How many nodes the path has (a root has depth 1).
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// The parent path, or `None` for a root.
    pub fn parent(&self) -> Option<TenantPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| TenantPath(parent.to_owned()))
    }

    /// This path and every ancestor, from the root down.
    pub fn lineage(&self) -> Vec<TenantPath> {
        let mut out = Vec::new();
        let mut end = 0;
        for code in self.0.split('/') {
            end += code.len();
            out.push(TenantPath(self.0[..end].to_owned()));
            end += 1;
        }
        out
    }

    /// Whether this path is `ancestor` itself or lies below it.
    pub fn is_within(&self, ancestor: &TenantPath) -> bool {
        self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0)
                && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'/'))
    }

    /// The half-open range `[self, upper)` that holds exactly this path and
    /// its descendants under byte-wise ordering: after its first character
    /// a code holds only digits, uppercase letters and (in a unit prefix)
    /// `-`, every code of a sibling that starts with this one continues with
    /// a digit or letter, and `/` sorts right before `0`, so nothing else
    /// falls between `P` and `P0`. Storage uses it to query a subtree with one index range.
    pub fn subtree_range(&self) -> (&str, String) {
        (&self.0, format!("{}0", self.0))
    }
}

impl fmt::Display for TenantPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantPath {
    type Error = TenantPathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TenantPath::parse(&s)
    }
}

impl From<TenantPath> for String {
    fn from(path: TenantPath) -> String {
        path.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> TenantPath {
        TenantPath::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn division_codes_are_six_or_nine_digits() {
        assert!(DivisionCode::parse("310115").is_some());
        assert!(DivisionCode::parse("310115005").is_some());
        for bad in ["31011", "3101150050", "31011a", "", "031011", "310115 "] {
            assert!(DivisionCode::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn child_prefix_drops_trailing_zero_pairs_of_six_digit_codes() {
        let prefix = |s: &str| DivisionCode::parse(s).map(|c| c.child_prefix().to_owned());
        assert_eq!(prefix("310000").as_deref(), Some("31"));
        assert_eq!(prefix("511700").as_deref(), Some("5117"));
        assert_eq!(prefix("511724").as_deref(), Some("511724"));
        assert_eq!(prefix("310115005").as_deref(), Some("310115005"));
    }

    #[test]
    fn a_path_knows_its_lineage_and_subtree() {
        let street = path("310000/310115/310115005");
        assert_eq!(street.code(), "310115005");
        assert_eq!(street.depth(), 3);
        assert_eq!(street.parent(), Some(path("310000/310115")));
        assert_eq!(
            street.lineage(),
            vec![path("310000"), path("310000/310115"), street.clone()]
        );
        assert!(street.is_within(&path("310000/310115")));
        assert!(street.is_within(&street));
        assert!(!path("310000/310115").is_within(&street));
        // A shared string prefix is not an ancestor.
        assert!(!path("310000/310115005").is_within(&path("310000/310115")));
    }

    #[test]
    fn subtree_range_holds_the_subtree_and_nothing_else() {
        let pudong = path("310000/310115");
        let (lower, upper) = pudong.subtree_range();
        let inside = |p: &str| p >= lower && p < upper.as_str();
        assert!(inside("310000/310115/310115005"));
        assert!(inside("310000/310115"));
        assert!(!inside("310000"));
        assert!(!inside("310000/310115005"));
        assert!(!inside("310000/310101/310101002"));
        assert!(!inside("310000/3101150"));
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "",
            "/",
            "310000/",
            "310000//310115",
            "shanghai/pudong",
            "310000/31011",
        ] {
            assert!(TenantPath::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
