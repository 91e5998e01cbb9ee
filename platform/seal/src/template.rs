//! Document templates: `tenants/_services/<line>/<service>/documents/*.toml`,
//! one file per kind of document; a file naming a `tenant` is that
//! tenant's variant (its subtree takes it, the nearest on the path up
//! wins, as flows do).
//!
//! A template is text with placeholders in braces, filled from a case:
//!
//! | placeholder | value |
//! |---|---|
//! | `{input.F}` | the application's field F (an enumerated value by its Chinese title) |
//! | `{outcome.H.F}` | field F of module hook H's latest answer |
//! | `{field.F}` | what the issuing officer entered for the template's field F |
//! | `{case.id}`, `{case.title}`, `{case.filed_on}`, `{case.closed_on}` | the case |
//! | `{applicant}` | the applicant's name as the case shows it |
//! | `{authority}` | the seal's name (the issuing authority) |
//! | `{date}`, `{year}`, `{serial}` | the date of issue, its year, the number in the year |
//!
//! `{{` and `}}` are literal braces. A block with `when = "input.F"` is
//! left out unless that value is present and not `false`, `0` or empty.
//! An unknown namespace is refused when the template is loaded; a value
//! a case lacks is refused when the document is issued, naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use civitas_tenancy::TenantPath;
use serde::Deserialize;

/// One kind of document for one service (and, for a variant, one tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The service.
    pub service: String,
    /// Its kind, e.g. `penalty-decision`.
    pub kind: String,
    /// The tenant of a variant (none: the service's template).
    pub tenant: Option<String>,
    /// Its name, e.g. 行政处罚决定书.
    pub name: String,
    /// Its English name.
    pub name_en: String,
    /// The title printed.
    pub title: String,
    /// The document number's pattern, e.g. `浦市监罚〔{year}〕{serial}号`.
    pub number: String,
    /// What the issuing officer enters.
    pub fields: Vec<Field>,
    /// The body.
    pub blocks: Vec<BlockTemplate>,
    /// The file it came from.
    pub source: PathBuf,
}

/// A value the issuing officer enters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Its name (`{field.NAME}`).
    pub name: String,
    /// Its label, Chinese.
    pub title: String,
    /// Its label, English.
    pub title_en: String,
    /// `integer` or `text`.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// An integer's lowest allowed value: a number or a placeholder
    /// (`outcome.discretion.band_min_yuan`).
    #[serde(default)]
    pub min: Option<String>,
    /// An integer's highest allowed value, likewise.
    #[serde(default)]
    pub max: Option<String>,
}

/// The type of an entered value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// A whole number (yuan, days).
    Integer,
    /// One line of text.
    Text,
}

/// A block of the body before filling.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockTemplate {
    /// A paragraph (indented first line).
    #[serde(default)]
    pub paragraph: Option<String>,
    /// A line as given.
    #[serde(default)]
    pub line: Option<String>,
    /// Shown only when this value is present and not false, zero or empty.
    #[serde(default)]
    pub when: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    service: String,
    kind: String,
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    name_en: String,
    title: String,
    number: String,
    #[serde(default)]
    field: Vec<Field>,
    block: Vec<BlockTemplate>,
}

const NAMESPACES: &[&str] = &["input", "outcome", "field", "case"];
const NAMES: &[&str] = &["applicant", "authority", "date", "year", "serial"];
const CASE_FIELDS: &[&str] = &["id", "title", "filed_on", "closed_on"];

/// Splits `text` into literal text and placeholder names.
fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("未闭合的 {{ (unclosed brace) in {text:?}")),
                    }
                }
                if !literal.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut literal)));
                }
                out.push(Piece::Value(name.trim().to_owned()));
            }
            '}' => return Err(format!("多余的 }} (stray brace) in {text:?}")),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Text(literal));
    }
    Ok(out)
}

enum Piece {
    Text(String),
    Value(String),
}

/// The formats a placeholder may end with (`{outcome.amount.per_meal_fen|fen-as-yuan}`).
const FILTERS: &[&str] = &["fen-as-yuan"];

/// A placeholder's name and its format, if it has one.
fn split_filter(name: &str) -> (&str, Option<&str>) {
    match name.split_once('|') {
        Some((base, filter)) => (base.trim(), Some(filter.trim())),
        None => (name, None),
    }
}

/// `value` in the format `filter`; none when it does not fit it.
fn apply_filter(filter: Option<&str>, value: String) -> Option<String> {
    match filter {
        None => Some(value),
        // Amounts are kept in fen (integers): shown as yuan with two decimals.
        Some("fen-as-yuan") => {
            let fen: i64 = value.parse().ok()?;
            let sign = if fen < 0 { "-" } else { "" };
            Some(format!(
                "{sign}{}.{:02}",
                (fen / 100).abs(),
                (fen % 100).abs()
            ))
        }
        Some(_) => None,
    }
}

/// The value of the placeholder `name` (with its format) from `values`.
fn lookup(values: &dyn Values, name: &str) -> Option<String> {
    let (base, filter) = split_filter(name);
    apply_filter(filter, values.value(base)?)
}

/// Checks that `name` is a placeholder a template may use.
fn check_name(name: &str, fields: &[Field]) -> Result<(), String> {
    let (name, filter) = split_filter(name);
    if let Some(filter) = filter
        && !FILTERS.contains(&filter)
    {
        return Err(format!("未知格式 (unknown format) |{filter}"));
    }
    if NAMES.contains(&name) {
        return Ok(());
    }
    let Some((namespace, rest)) = name.split_once('.') else {
        return Err(format!("未知占位符 (unknown placeholder) {{{name}}}"));
    };
    if !NAMESPACES.contains(&namespace) || rest.is_empty() {
        return Err(format!("未知占位符 (unknown placeholder) {{{name}}}"));
    }
    match namespace {
        "case" if !CASE_FIELDS.contains(&rest) => {
            Err(format!("未知案件字段 (unknown case field) {{{name}}}"))
        }
        "field" if !fields.iter().any(|f| f.name == rest) => Err(format!(
            "模板没有定义字段 (the template defines no field) {rest}"
        )),
        "outcome" if !rest.contains('.') => Err(format!(
            "须写 outcome.钩子.字段 (write outcome.HOOK.FIELD): {{{name}}}"
        )),
        _ => Ok(()),
    }
}

fn parse(text: &str, file: &Path) -> Result<Template, Vec<String>> {
    let shown = file.display();
    let raw: RawTemplate = toml::from_str(text).map_err(|e| vec![format!("{shown}: {e}")])?;
    let mut problems = Vec::new();
    if raw.block.is_empty() {
        problems.push(format!("{shown}: 没有正文 / no block"));
    }
    let mut texts: Vec<&str> = vec![&raw.title, &raw.number];
    for block in &raw.block {
        match (&block.paragraph, &block.line) {
            (Some(t), None) | (None, Some(t)) => texts.push(t),
            _ => problems.push(format!(
                "{shown}: 每段须写 paragraph 或 line 之一 / each block is a paragraph or a line"
            )),
        }
        if let Some(when) = &block.when
            && let Err(p) = check_name(when, &raw.field)
        {
            problems.push(format!("{shown}: {p}"));
        }
    }
    for field in &raw.field {
        for bound in [&field.min, &field.max].into_iter().flatten() {
            if bound.parse::<i64>().is_err()
                && let Err(p) = check_name(bound, &raw.field)
            {
                problems.push(format!("{shown}: {}: {p}", field.name));
            }
        }
        if field.kind == FieldKind::Text && (field.min.is_some() || field.max.is_some()) {
            problems.push(format!(
                "{shown}: {}: 文本字段没有上下限 / a text field has no bounds",
                field.name
            ));
        }
    }
    for text in texts {
        match pieces(text) {
            Err(p) => problems.push(format!("{shown}: {p}")),
            Ok(pieces) => {
                for piece in pieces {
                    if let Piece::Value(name) = piece
                        && let Err(p) = check_name(&name, &raw.field)
                    {
                        problems.push(format!("{shown}: {p}"));
                    }
                }
            }
        }
    }
    if let Some(tenant) = &raw.tenant
        && TenantPath::parse(tenant).is_err()
    {
        problems.push(format!(
            "{shown}: tenant {tenant:?} 不是租户路径 / not a tenant path"
        ));
    }
    if !raw
        .kind
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || raw.kind.is_empty()
    {
        problems.push(format!(
            "{shown}: kind 须为小写字母、数字和连字符 / kind is lowercase letters, digits and hyphens"
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Template {
        service: raw.service,
        kind: raw.kind,
        tenant: raw.tenant,
        name: raw.name,
        name_en: raw.name_en,
        title: raw.title,
        number: raw.number,
        fields: raw.field,
        blocks: raw.block,
        source: file.to_owned(),
    })
}

/// Every template: per service and kind, the service's and its variants.
#[derive(Debug, Clone, Default)]
pub struct TemplateCatalog {
    /// (service, kind) → tenant (`""` = the service's) → template.
    templates: BTreeMap<(String, String), BTreeMap<String, Template>>,
}

impl TemplateCatalog {
    /// Loads `<tenants>/_services/**/documents/*.toml`; `services` are the
    /// services that have flows (a template for any other is refused).
    pub fn load(tenants_dir: &Path, services: &[String]) -> Result<TemplateCatalog, Vec<String>> {
        let mut files = Vec::new();
        let root = tenants_dir.join("_services");
        if root.is_dir() {
            collect(&root, &mut files).map_err(|e| vec![e])?;
        }
        let mut texts = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| vec![format!("{}: {e}", file.display())])?;
            texts.push((file, text));
        }
        TemplateCatalog::from_texts(texts, services)
    }

    /// Builds a catalog from `(file, text)` pairs.
    pub fn from_texts(
        texts: Vec<(PathBuf, String)>,
        services: &[String],
    ) -> Result<TemplateCatalog, Vec<String>> {
        let mut problems = Vec::new();
        let mut catalog = TemplateCatalog::default();
        for (file, text) in texts {
            match parse(&text, &file) {
                Err(mut p) => problems.append(&mut p),
                Ok(template) => {
                    let in_dir = file
                        .parent()
                        .and_then(Path::parent)
                        .is_some_and(|dir| dir.ends_with(&template.service));
                    if !in_dir || !services.contains(&template.service) {
                        problems.push(format!(
                            "{}: 服务 {} 与目录不符或没有流程 / the service does not match its directory or has no flow",
                            file.display(),
                            template.service
                        ));
                        continue;
                    }
                    let key = (template.service.clone(), template.kind.clone());
                    let tenant = template.tenant.clone().unwrap_or_default();
                    let by_tenant = catalog.templates.entry(key).or_default();
                    if by_tenant.contains_key(&tenant) {
                        problems.push(format!(
                            "{}: {} 已有同一租户的模板 / a second template for the same tenant",
                            file.display(),
                            template.kind
                        ));
                        continue;
                    }
                    by_tenant.insert(tenant, template);
                }
            }
        }
        for ((service, kind), by_tenant) in &catalog.templates {
            if !by_tenant.contains_key("") {
                problems.push(format!(
                    "{service} {kind}: 有变体但没有服务的模板 / variants without the service's template"
                ));
            }
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    /// The template of `kind` for a case of `service` at `tenant`: the
    /// variant of the nearest tenant on the path up, else the service's.
    pub fn resolve(&self, service: &str, kind: &str, tenant: &TenantPath) -> Option<&Template> {
        let by_tenant = self.templates.get(&(service.to_owned(), kind.to_owned()))?;
        let mut lineage = tenant.lineage();
        lineage.reverse();
        lineage
            .iter()
            .find_map(|node| by_tenant.get(node.as_str()))
            .or_else(|| by_tenant.get(""))
    }

    /// Checks every `input.` and `outcome.` placeholder of every template
    /// with `known(template, placeholder)` (the service's input schema, its
    /// flow's hooks and their output schemas): one problem per unknown one.
    pub fn check(&self, known: impl Fn(&Template, &str) -> bool) -> Vec<String> {
        let mut problems = Vec::new();
        for template in self.templates.values().flat_map(BTreeMap::values) {
            for name in template.placeholders() {
                if (name.starts_with("input.") || name.starts_with("outcome."))
                    && !known(template, &name)
                {
                    problems.push(format!(
                        "{}: {{{name}}}: 服务 {} 没有这个字段 / the service has no such field",
                        template.source.display(),
                        template.service
                    ));
                }
            }
        }
        problems
    }

    /// The kinds of document a case of `service` at `tenant` may have,
    /// each resolved.
    pub fn for_service(&self, service: &str, tenant: &TenantPath) -> Vec<&Template> {
        self.templates
            .keys()
            .filter(|(s, _)| s == service)
            .filter_map(|(s, kind)| self.resolve(s, kind, tenant))
            .collect()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "documents") {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            collect(&path, out)?;
        }
    }
    Ok(())
}

/// Values a template is filled with, by placeholder name.
pub trait Values {
    /// The value of `name` (`input.party`, `date`), or none.
    fn value(&self, name: &str) -> Option<String>;
}

/// A template filled in: the document's text but the authority and the
/// date, which the issuer adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The title.
    pub title: String,
    /// The document number.
    pub number: String,
    /// The body.
    pub body: Vec<crate::Block>,
}

fn fill_text(text: &str, values: &dyn Values, missing: &mut Vec<String>) -> String {
    let Ok(pieces) = pieces(text) else {
        // Checked when loaded.
        return text.to_owned();
    };
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Value(name) => match lookup(values, &name) {
                Some(v) => out.push_str(&v),
                None => {
                    if !missing.contains(&name) {
                        missing.push(name);
                    }
                }
            },
        }
    }
    out
}

fn shown(value: Option<String>) -> bool {
    value.is_some_and(|v| !(v.is_empty() || v == "false" || v == "否" || v == "0"))
}

impl Template {
    /// Every placeholder the template uses (formats stripped), in the order
    /// they appear: texts, `when` conditions, field bounds.
    pub fn placeholders(&self) -> Vec<String> {
        let mut texts: Vec<&str> = vec![&self.title, &self.number];
        for block in &self.blocks {
            texts.extend(block.paragraph.as_deref());
            texts.extend(block.line.as_deref());
        }
        let mut out: Vec<String> = Vec::new();
        let mut push = |name: &str| {
            let base = split_filter(name).0.to_owned();
            if !out.contains(&base) {
                out.push(base);
            }
        };
        for text in texts {
            for piece in pieces(text).unwrap_or_default() {
                if let Piece::Value(name) = piece {
                    push(&name);
                }
            }
        }
        for block in &self.blocks {
            if let Some(when) = &block.when {
                push(when);
            }
        }
        for field in &self.fields {
            for bound in [&field.min, &field.max].into_iter().flatten() {
                if bound.parse::<i64>().is_err() {
                    push(bound);
                }
            }
        }
        out
    }

    /// Fills the template from `values`; the names of missing values
    /// otherwise.
    pub fn fill(&self, values: &dyn Values) -> Result<Filled, Vec<String>> {
        let mut missing = Vec::new();
        let title = fill_text(&self.title, values, &mut missing);
        let number = fill_text(&self.number, values, &mut missing);
        let mut body = Vec::new();
        for block in &self.blocks {
            if let Some(when) = &block.when
                && !shown(lookup(values, when))
            {
                continue;
            }
            if let Some(p) = &block.paragraph {
                body.push(crate::Block::Paragraph(fill_text(p, values, &mut missing)));
            } else if let Some(l) = &block.line {
                body.push(crate::Block::Line(fill_text(l, values, &mut missing)));
            }
        }
        if missing.is_empty() {
            Ok(Filled {
                title,
                number,
                body,
            })
        } else {
            Err(missing)
        }
    }

    /// Checks what the officer entered against the fields: every field
    /// given, integers within their bounds (bounds read from `values`).
    /// Returns one problem per bad field.
    pub fn check_entries(
        &self,
        entries: &BTreeMap<String, serde_json::Value>,
        values: &dyn Values,
    ) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for name in entries.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                problems.push((
                    name.clone(),
                    "模板没有这个字段 / the template has no such field".to_owned(),
                ));
            }
        }
        for field in &self.fields {
            let Some(value) = entries.get(&field.name) else {
                problems.push((field.name.clone(), "必填 / required".to_owned()));
                continue;
            };
            match field.kind {
                FieldKind::Text => match value.as_str() {
                    Some(t) if !t.trim().is_empty() && t.chars().count() <= 500 => {}
                    _ => problems.push((
                        field.name.clone(),
                        "须为 1–500 字的文本 / text of 1–500 characters".to_owned(),
                    )),
                },
                FieldKind::Integer => {
                    let Some(n) = value.as_i64() else {
                        problems.push((field.name.clone(), "须为整数 / an integer".to_owned()));
                        continue;
                    };
                    let bound = |b: &Option<String>| -> Option<i64> {
                        let b = b.as_ref()?;
                        b.parse().ok().or_else(|| values.value(b)?.parse().ok())
                    };
                    if let Some(min) = bound(&field.min)
                        && n < min
                    {
                        problems.push((
                            field.name.clone(),
                            format!("不得低于 {min} / at least {min}"),
                        ));
                    }
                    if let Some(max) = bound(&field.max)
                        && n > max
                    {
                        problems.push((
                            field.name.clone(),
                            format!("不得高于 {max} / at most {max}"),
                        ));
                    }
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(BTreeMap<&'static str, &'static str>);
    impl Values for Map {
        fn value(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_owned())
        }
    }

    const TEXT: &str = r#"
service = "market-regulation/penalty-case"
kind = "penalty-decision"
name = "行政处罚决定书"
name_en = "Penalty decision"
title = "行政处罚决定书"
number = "浦市监罚〔{year}〕{serial}号"

[[field]]
name = "fine_yuan"
title = "罚款金额（元）"
title_en = "Fine (yuan)"
type = "integer"
min = "outcome.discretion.band_min_yuan"
max = "outcome.discretion.band_max_yuan"

[[block]]
line = "当事人：{input.party}"

[[block]]
paragraph = "罚款人民币{field.fine_yuan}元。{{不变}}"

[[block]]
line = "统一社会信用代码：{input.party_credit_code}"
when = "input.party_credit_code"
"#;

    fn template() -> Template {
        parse(TEXT, Path::new("documents/penalty-decision.toml"))
            .unwrap_or_else(|p| panic!("{p:?}"))
    }

    #[test]
    fn a_template_fills_its_placeholders_and_keeps_doubled_braces() {
        let values = Map(BTreeMap::from([
            ("year", "2026"),
            ("serial", "7"),
            ("input.party", "上海某超市有限公司"),
            ("field.fine_yuan", "5000"),
        ]));
        let filled = template().fill(&values).unwrap_or_else(|m| panic!("{m:?}"));
        assert_eq!(filled.number, "浦市监罚〔2026〕7号");
        assert_eq!(
            filled.body,
            vec![
                crate::Block::Line("当事人：上海某超市有限公司".into()),
                crate::Block::Paragraph("罚款人民币5000元。{不变}".into()),
            ],
            "the credit-code line is left out: the case has none"
        );
    }

    #[test]
    fn fen_are_shown_as_yuan() {
        assert_eq!(
            apply_filter(Some("fen-as-yuan"), "1250".into()).as_deref(),
            Some("12.50")
        );
        assert_eq!(
            apply_filter(Some("fen-as-yuan"), "5".into()).as_deref(),
            Some("0.05")
        );
        assert_eq!(
            apply_filter(Some("fen-as-yuan"), "-150".into()).as_deref(),
            Some("-1.50")
        );
        assert_eq!(apply_filter(Some("fen-as-yuan"), "abc".into()), None);
        assert!(check_name("outcome.a.b|yuan", &[]).is_err());
    }

    #[test]
    fn missing_values_are_named() {
        let values = Map(BTreeMap::from([("year", "2026"), ("serial", "7")]));
        let missing = template().fill(&values).err().unwrap_or_default();
        assert_eq!(missing, vec!["input.party", "field.fine_yuan"]);
    }

    #[test]
    fn an_unknown_placeholder_is_refused_when_loading() {
        let text = TEXT.replace("{input.party}", "{party}");
        let problems = parse(&text, Path::new("x.toml")).err().unwrap_or_default();
        assert!(
            problems.iter().any(|p| p.contains("{party}")),
            "{problems:?}"
        );
    }

    #[test]
    fn entries_are_checked_against_bounds_from_the_case() {
        let values = Map(BTreeMap::from([
            ("outcome.discretion.band_min_yuan", "1000"),
            ("outcome.discretion.band_max_yuan", "3000"),
        ]));
        let t = template();
        let ok = BTreeMap::from([("fine_yuan".to_owned(), serde_json::json!(2000))]);
        assert!(t.check_entries(&ok, &values).is_empty());
        let high = BTreeMap::from([("fine_yuan".to_owned(), serde_json::json!(5000))]);
        assert_eq!(t.check_entries(&high, &values)[0].0, "fine_yuan");
        let none = BTreeMap::new();
        assert_eq!(t.check_entries(&none, &values).len(), 1);
        let extra = BTreeMap::from([
            ("fine_yuan".to_owned(), serde_json::json!(2000)),
            ("other".to_owned(), serde_json::json!(1)),
        ]);
        assert_eq!(t.check_entries(&extra, &values)[0].0, "other");
    }
}
