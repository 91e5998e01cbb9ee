//! Reading tenant files: the directory walk and the TOML shapes.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, ConfigErrorKind};

/// The file, at the root of the tenants directory, that defines the lines of
/// business every node may name.
pub const LINES_FILE: &str = "lines.toml";

/// One configuration file: its name (relative to the tenants directory) and
/// its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's path relative to the tenants directory.
    pub name: PathBuf,
    /// The file's contents.
    pub text: String,
}

impl Source {
    /// A source from a name and its text.
    pub fn new(name: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The 1-based line of a byte offset into the text.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn error(&self, offset: Option<usize>, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: self.name.clone(),
            line: offset.map(|o| self.line_of(o)),
            kind,
        }
    }
}

/// Reads every `*.toml` file under `dir`, recursively and in a stable order.
///
/// Folders whose name starts with `_` or `.` are skipped: they hold other
/// configuration (service definitions, for instance), not tree nodes.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<Source>, Vec<ConfigError>> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    walk(dir, dir, &mut sources, &mut errors);
    if errors.is_empty() {
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(sources)
    } else {
        Err(errors)
    }
}

fn walk(root: &Path, dir: &Path, sources: &mut Vec<Source>, errors: &mut Vec<ConfigError>) {
    let io_error = |path: &Path, e: std::io::Error| ConfigError {
        file: path.to_path_buf(),
        line: None,
        kind: ConfigErrorKind::Io(e.to_string()),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return errors.push(io_error(dir, e)),
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                errors.push(io_error(dir, e));
                continue;
            }
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !(name.starts_with('_') || name.starts_with('.')) {
                walk(root, &path, sources, errors);
            }
        } else if name.ends_with(".toml") {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                    sources.push(Source::new(relative, text));
                }
                Err(e) => errors.push(io_error(&path, e)),
            }
        }
    }
}

/// A node file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub code: Spanned<String>,
    pub level: Spanned<String>,
    pub parent: Option<Spanned<String>>,
    pub name: String,
    pub name_en: String,
    pub slug: Spanned<String>,
    #[serde(default)]
    pub lines: Vec<Spanned<String>>,
    #[serde(default)]
    pub settings: toml::Table,
}

/// `lines.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLines {
    #[serde(default)]
    pub line: Vec<RawLine>,
}

/// One `[[line]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLine {
    pub code: Spanned<String>,
    pub name: String,
    pub name_en: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Parses a source as `T`, turning a TOML error into a located config error.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(source: &Source) -> Result<T, ConfigError> {
    toml::from_str::<T>(&source.text).map_err(|e| {
        let offset = e.span().map(|span| span.start);
        source.error(
            offset,
            ConfigErrorKind::Syntax(e.message().trim().to_owned()),
        )
    })
}

/// Converts TOML settings to JSON; dates and times become their TOML text.
pub(crate) fn settings_to_json(table: toml::Table) -> serde_json::Map<String, serde_json::Value> {
    table
        .into_iter()
        .map(|(key, value)| (key, toml_to_json(value)))
        .collect()
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => J::Object(settings_to_json(table)),
    }
}
