//! The validated tree and its construction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::code::{DivisionCode, Level, TenantPath};
use crate::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use crate::level::{LEVELS_FILE, LevelDef, parse_levels, standard_levels};
use crate::load::{self, LINES_FILE, RawLines, RawNode, Source};

/// A line of business (条线), e.g. civil affairs (民政).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The code used in configuration and grants, e.g. `civil-affairs`.
    pub code: String,
    /// The Chinese name.
    pub name: String,
    /// The English name.
    pub name_en: String,
    /// Other names a bureau writes for it, e.g. 人社 for 人力资源和社会保障.
    pub aliases: Vec<String>,
}

impl Line {
    /// Whether `text` names this line: its code, its Chinese or English
    /// name, or an alias (case and surrounding space ignored).
    pub fn is_named(&self, text: &str) -> bool {
        let text = text.trim();
        self.code.eq_ignore_ascii_case(text)
            || self.name == text
            || self.name_en.eq_ignore_ascii_case(text)
            || self.aliases.iter().any(|a| a == text)
    }
}

/// A node of the administrative tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    /// The node's own division code.
    pub code: DivisionCode,
    /// The codes from the root down to this node.
    pub path: TenantPath,
    /// The parent's path; `None` for a root.
    pub parent: Option<TenantPath>,
    /// The level in the tree.
    pub level: Level,
    /// The official Chinese name, e.g. 陆家嘴街道.
    pub name: String,
    /// The English name, e.g. Lujiazui Subdistrict.
    pub name_en: String,
    /// This node's readable name segment, e.g. `lujiazui`.
    pub slug: String,
    /// The slugs from the root down, e.g. `shanghai/pudong/lujiazui`.
    pub slug_path: String,
    /// The lines of business present at this node.
    pub lines: Vec<String>,
    /// Tenant settings (a district's subsidy amount, say), as JSON.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The configuration file the node came from.
    pub source: PathBuf,
}

/// A validated administrative tree: every node has a known parent of the
/// right level, codes and sibling slugs are unique, and every line is
/// defined.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantTree {
    // Ordered by path, which is a depth-first pre-order with a node's
    // subtree contiguous right after it.
    nodes: BTreeMap<TenantPath, Tenant>,
    by_slug_path: HashMap<String, TenantPath>,
    lines: Vec<Line>,
    levels: Vec<LevelDef>,
}

impl TenantTree {
    /// Loads and validates the tenants directory `dir`.
    pub fn load(dir: &Path) -> Result<TenantTree, ConfigErrors> {
        let sources = load::read_dir(dir).map_err(ConfigErrors)?;
        TenantTree::from_sources(sources)
    }

    /// Reads the configuration files of the tenants directory `dir` (every
    /// `*.toml` outside `_`/`.` folders, by name), without validating them:
    /// what a tree revision stores and [`TenantTree::from_sources`] reads.
    pub fn read_sources(dir: &Path) -> Result<Vec<Source>, ConfigErrors> {
        load::read_dir(dir).map_err(ConfigErrors)
    }

    /// Validates a tree from sources already in memory. The source named
    /// [`LINES_FILE`] defines the lines, the one named [`LEVELS_FILE`] the
    /// levels (the [`standard_levels`] without it); every other source is
    /// one node.
    pub fn from_sources(sources: Vec<Source>) -> Result<TenantTree, ConfigErrors> {
        let mut errors = Vec::new();
        let (line_sources, sources): (Vec<_>, Vec<_>) = sources
            .into_iter()
            .partition(|s| s.name == Path::new(LINES_FILE));
        let (level_sources, node_sources): (Vec<_>, Vec<_>) = sources
            .into_iter()
            .partition(|s| s.name == Path::new(LEVELS_FILE));
        let levels = match level_sources.first() {
            Some(source) => parse_levels(source, &mut errors),
            None => standard_levels(),
        };

        let lines = match line_sources.first() {
            Some(source) => parse_lines(source, &mut errors),
            None => {
                errors.push(ConfigError {
                    file: PathBuf::from(LINES_FILE),
                    line: None,
                    kind: ConfigErrorKind::MissingLines,
                });
                Vec::new()
            }
        };
        let line_codes: BTreeSet<&str> = lines.iter().map(|l| l.code.as_str()).collect();

        let mut drafts = Vec::new();
        for source in &node_sources {
            match load::parse::<RawNode>(source) {
                Ok(raw) => {
                    if let Some(draft) = check_node(source, raw, &line_codes, &levels, &mut errors)
                    {
                        drafts.push(draft);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if drafts.is_empty() && errors.is_empty() {
            errors.push(ConfigError {
                file: PathBuf::from("."),
                line: None,
                kind: ConfigErrorKind::Empty,
            });
        }

        let nodes = link(&drafts, &levels, &mut errors);
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(ConfigErrors(errors));
        }
        let by_slug_path = nodes
            .values()
            .map(|t| (t.slug_path.clone(), t.path.clone()))
            .collect();
        Ok(TenantTree {
            nodes,
            by_slug_path,
            lines,
            levels,
        })
    }

    /// The levels of the tree, as configured, top down.
    pub fn levels(&self) -> &[LevelDef] {
        &self.levels
    }

    /// The definition of `level`, if the tree has it.
    pub fn level(&self, level: &Level) -> Option<&LevelDef> {
        self.levels.iter().find(|l| &l.name == level)
    }

    /// Finds a node by its path of codes (`310000/310115`) or its slug path
    /// (`shanghai/pudong`). Surrounding slashes are ignored.
    pub fn resolve(&self, reference: &str) -> Option<&Tenant> {
        let reference = reference.trim_matches('/');
        if let Ok(path) = TenantPath::parse(reference) {
            return self.nodes.get(&path);
        }
        self.by_slug_path
            .get(reference)
            .and_then(|path| self.nodes.get(path))
    }

    /// The effective settings at `path`: every key from the most specific
    /// node on the path from the root down to `path` (a street's setting
    /// overrides its district's, which overrides the city's).
    pub fn effective_settings(
        &self,
        path: &TenantPath,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut settings = serde_json::Map::new();
        for node in path.lineage() {
            if let Some(node) = self.nodes.get(&node) {
                for (key, value) in &node.settings {
                    settings.insert(key.clone(), value.clone());
                }
            }
        }
        settings
    }

    /// This tree with `overrides` laid over the configured settings: a key
    /// set at a node replaces the configured value there and is inherited
    /// below it like any setting. Overrides naming a node the tree does not
    /// have (a deactivated one) are left out.
    pub fn with_settings_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a TenantPath, &'a str, &'a serde_json::Value)>,
    ) -> TenantTree {
        let mut tree = self.clone();
        for (path, key, value) in overrides {
            if let Some(node) = tree.nodes.get_mut(path) {
                node.settings.insert(key.to_owned(), value.clone());
            }
        }
        tree
    }

    /// The node at `path`.
    pub fn get(&self, path: &TenantPath) -> Option<&Tenant> {
        self.nodes.get(path)
    }

    /// Every node, parents before children, siblings by code.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.nodes.values()
    }

    /// How many nodes the tree has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no node (a validated tree always has one).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The roots of the tree (Shanghai, Sichuan…).
    pub fn roots(&self) -> impl Iterator<Item = &Tenant> {
        self.nodes.values().filter(|t| t.parent.is_none())
    }

    /// The direct children of `path`.
    pub fn children<'a>(&'a self, path: &'a TenantPath) -> impl Iterator<Item = &'a Tenant> + 'a {
        self.subtree(path)
            .filter(move |t| t.parent.as_ref() == Some(path))
    }

    /// `path` and every node below it, in pre-order.
    pub fn subtree<'a>(&'a self, path: &TenantPath) -> impl Iterator<Item = &'a Tenant> + 'a {
        let (_, upper) = path.subtree_range();
        self.nodes
            .range(path.clone()..)
            .take_while(move |(p, _)| p.as_str() < upper.as_str())
            .map(|(_, t)| t)
    }

    /// The lines of business the platform knows.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
}

fn parse_lines(source: &Source, errors: &mut Vec<ConfigError>) -> Vec<Line> {
    let raw = match load::parse::<RawLines>(source) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    // Every name a line answers to (code, names, aliases) names one line
    // only, so a roster's 条线 cell is never ambiguous.
    let mut names: HashMap<String, String> = HashMap::new();
    for line in &raw.line {
        let code = line.code.get_ref();
        let mut own: BTreeSet<String> = BTreeSet::new();
        own.insert(code.to_ascii_lowercase());
        own.insert(line.name.clone());
        own.insert(line.name_en.to_ascii_lowercase());
        own.extend(line.aliases.iter().cloned());
        for name in own {
            if let Some(other) = names.insert(name.clone(), code.clone()) {
                errors.push(source.error(
                    Some(line.code.span().start),
                    ConfigErrorKind::DuplicateLine(format!("{name}（{other}、{code}）")),
                ));
            }
        }
    }
    for line in raw.line {
        let code = line.code.get_ref().clone();
        if !is_slug(&code) {
            errors.push(source.error(Some(line.code.span().start), ConfigErrorKind::BadSlug(code)));
        } else if !seen.insert(code.clone()) {
            errors.push(source.error(
                Some(line.code.span().start),
                ConfigErrorKind::DuplicateLine(code),
            ));
        } else {
            lines.push(Line {
                code,
                name: line.name,
                name_en: line.name_en,
                aliases: line.aliases,
            });
        }
    }
    lines
}

/// A node that parsed, with the positions needed to report relational errors.
struct Draft<'s> {
    source: &'s Source,
    code: DivisionCode,
    code_at: usize,
    level: Level,
    parent: Option<(String, usize)>,
    slug: String,
    slug_at: usize,
    name: String,
    name_en: String,
    lines: Vec<String>,
    settings: serde_json::Map<String, serde_json::Value>,
}

/// Checks what can be checked within one file; returns a draft whenever the
/// code and level are usable, so that relational checks still run.
fn check_node<'s>(
    source: &'s Source,
    raw: RawNode,
    line_codes: &BTreeSet<&str>,
    levels: &[LevelDef],
    errors: &mut Vec<ConfigError>,
) -> Option<Draft<'s>> {
    let code_at = raw.code.span().start;
    let code = DivisionCode::parse(raw.code.get_ref());
    if code.is_none() {
        let kind = ConfigErrorKind::BadCode {
            code: raw.code.get_ref().clone(),
        };
        errors.push(source.error(Some(code_at), kind));
    }
    let level = levels
        .iter()
        .find(|l| l.name.as_str() == raw.level.get_ref().as_str());
    if level.is_none() {
        let kind = ConfigErrorKind::UnknownLevel(raw.level.get_ref().clone());
        errors.push(source.error(Some(raw.level.span().start), kind));
    }
    if let (Some(code), Some(level)) = (&code, level)
        && !level.fits(code)
    {
        let kind = ConfigErrorKind::CodeLevelMismatch {
            code: code.to_string(),
            level: level.name.to_string(),
            expected: level.code_form(),
        };
        errors.push(source.error(Some(code_at), kind));
    }
    let slug = raw.slug.get_ref().clone();
    if !is_slug(&slug) {
        errors.push(source.error(
            Some(raw.slug.span().start),
            ConfigErrorKind::BadSlug(slug.clone()),
        ));
    }
    for line in &raw.lines {
        if !line_codes.contains(line.get_ref().as_str()) {
            let kind = ConfigErrorKind::UnknownLine(line.get_ref().clone());
            errors.push(source.error(Some(line.span().start), kind));
        }
    }
    Some(Draft {
        source,
        code: code?,
        code_at,
        level: level?.name.clone(),
        parent: raw.parent.map(|p| (p.get_ref().clone(), p.span().start)),
        slug,
        slug_at: raw.slug.span().start,
        name: raw.name,
        name_en: raw.name_en,
        lines: raw.lines.into_iter().map(|l| l.into_inner()).collect(),
        settings: load::settings_to_json(raw.settings),
    })
}

/// Checks the relations between nodes and, when they hold, builds the nodes
/// with their paths.
fn link(
    drafts: &[Draft<'_>],
    levels: &[LevelDef],
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<TenantPath, Tenant> {
    let mut by_code: HashMap<&str, usize> = HashMap::new();
    for (i, draft) in drafts.iter().enumerate() {
        if let Some(&first) = by_code.get(draft.code.as_str()) {
            let kind = ConfigErrorKind::DuplicateCode {
                code: draft.code.to_string(),
                other: drafts[first].source.name.display().to_string(),
            };
            errors.push(draft.source.error(Some(draft.code_at), kind));
        } else {
            by_code.insert(draft.code.as_str(), i);
        }
    }

    // Parent index of each draft: None for a root, Some(Err) when unknown.
    let parent_of = |draft: &Draft<'_>| -> Option<Option<usize>> {
        match &draft.parent {
            None => Some(None),
            Some((code, _)) => by_code.get(code.as_str()).map(|&i| Some(i)),
        }
    };

    let mut in_cycle = vec![false; drafts.len()];
    for (start, draft) in drafts.iter().enumerate() {
        if by_code.get(draft.code.as_str()) != Some(&start) {
            continue; // a duplicate, already reported
        }
        let mut chain = vec![start];
        let mut current = start;
        while let Some(Some(next)) = parent_of(&drafts[current]) {
            if next == start {
                if chain.iter().all(|&i| !in_cycle[i]) {
                    let names: Vec<String> = chain
                        .iter()
                        .chain(std::iter::once(&start))
                        .map(|&i| drafts[i].code.to_string())
                        .collect();
                    let at = drafts[start].parent.as_ref().map(|(_, at)| *at);
                    errors.push(
                        draft
                            .source
                            .error(at, ConfigErrorKind::Cycle(names.join(" → "))),
                    );
                }
                for &i in &chain {
                    in_cycle[i] = true;
                }
                break;
            }
            if chain.contains(&next) {
                break; // a cycle further up, reported from one of its members
            }
            chain.push(next);
            current = next;
        }
    }

    let mut slugs: HashMap<(Option<&str>, &str), usize> = HashMap::new();
    for (i, draft) in drafts.iter().enumerate() {
        if in_cycle[i] {
            continue;
        }
        let parent_code = draft.parent.as_ref().map(|(code, _)| code.as_str());
        match parent_of(draft) {
            None => {
                let (code, at) = draft.parent.clone().unwrap_or_default();
                errors.push(
                    draft
                        .source
                        .error(Some(at), ConfigErrorKind::UnknownParent(code)),
                );
            }
            Some(parent) => {
                let parent_level = parent.map(|p| &drafts[p].level);
                let allowed = levels
                    .iter()
                    .find(|l| l.name == draft.level)
                    .is_some_and(|l| l.may_hang_under(parent_level));
                if !allowed {
                    let kind = ConfigErrorKind::LevelMismatch {
                        level: draft.level.to_string(),
                        parent_level: parent_level.map_or("root".to_owned(), |l| l.to_string()),
                    };
                    let at = draft.parent.as_ref().map_or(draft.code_at, |(_, at)| *at);
                    errors.push(draft.source.error(Some(at), kind));
                }
                // Division codes nest (a street's nine digits start with its
                // district's six); a unit's code is its own.
                if let Some(p) = parent
                    && draft.code.is_division()
                    && drafts[p].code.is_division()
                {
                    let prefix = drafts[p].code.child_prefix();
                    if !draft.code.as_str().starts_with(prefix) {
                        let kind = ConfigErrorKind::CodePrefixMismatch {
                            code: draft.code.to_string(),
                            parent: drafts[p].code.to_string(),
                            prefix: prefix.to_owned(),
                        };
                        errors.push(draft.source.error(Some(draft.code_at), kind));
                    }
                }
            }
        }
        if let Some(&first) = slugs.get(&(parent_code, draft.slug.as_str())) {
            let kind = ConfigErrorKind::DuplicateSlug {
                slug: draft.slug.clone(),
                other: drafts[first].source.name.display().to_string(),
            };
            errors.push(draft.source.error(Some(draft.slug_at), kind));
        } else {
            slugs.insert((parent_code, draft.slug.as_str()), i);
        }
    }
    if !errors.is_empty() {
        return BTreeMap::new();
    }

    // Valid: assign paths from the roots down.
    let mut nodes = BTreeMap::new();
    let mut paths: Vec<Option<(TenantPath, String)>> = vec![None; drafts.len()];
    let mut pending: Vec<usize> = (0..drafts.len()).collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&i| {
            let draft = &drafts[i];
            let placed = match parent_of(draft) {
                Some(None) => Some((TenantPath::root(&draft.code), draft.slug.clone(), None)),
                Some(Some(p)) => paths[p].clone().map(|(parent_path, parent_slugs)| {
                    (
                        parent_path.child(&draft.code),
                        format!("{parent_slugs}/{}", draft.slug),
                        Some(parent_path),
                    )
                }),
                None => None,
            };
            let Some((path, slug_path, parent)) = placed else {
                return true;
            };
            paths[i] = Some((path.clone(), slug_path.clone()));
            nodes.insert(
                path.clone(),
                Tenant {
                    code: draft.code.clone(),
                    path,
                    parent,
                    level: draft.level.clone(),
                    name: draft.name.clone(),
                    name_en: draft.name_en.clone(),
                    slug: draft.slug.clone(),
                    slug_path,
                    lines: draft.lines.clone(),
                    settings: draft.settings.clone(),
                    source: draft.source.name.clone(),
                },
            );
            false
        });
        if pending.len() == before {
            break; // unreachable after the checks above; never loop forever
        }
    }
    nodes
}

/// Words that name resources under a tenant in the API
/// (`/api/v1/tenants/{path}/staff`), and `resolve`
/// (`/api/v1/tenants/resolve`), so no slug may be one of them: the router
/// tells where a tenant path ends by the first segment that is not a child.
/// A line code is held to the same rule as a slug, these words included.
/// The API's test `every_word_after_a_tenant_is_a_reserved_slug`
/// (`platform/api/tests/api.rs`) checks that every route under a tenant
/// continues with one of these words, and that each word names a route.
pub const RESERVED_SLUGS: &[&str] = &[
    "account-imports",
    "accounts",
    "api-keys",
    "audit",
    "bindings",
    "cases",
    "dashboard",
    "deliveries",
    "grants",
    "lotteries",
    "messages",
    "notification-deliveries",
    "notifications",
    "residents",
    "resolve",
    "seals",
    "services",
    "settings",
    "staff",
    "wage-arrears",
];

fn is_slug(s: &str) -> bool {
    let mut bytes = s.bytes();
    !RESERVED_SLUGS.contains(&s)
        && matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
