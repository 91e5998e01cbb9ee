//! The notice texts (`tenants/_reference/notifications.toml`): one per kind
//! of news, in Chinese and English, with the SMS provider's template code.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{Kind, NotifyError};

/// The variables a notice may name.
pub const VARIABLES: [&str; 5] = ["title", "case", "authority", "reason", "date"];

/// The longest value of one SMS template variable: providers cap each at
/// a few dozen characters (Aliyun: 35).
pub const SMS_VARIABLE_CHARS: usize = 35;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    zh: String,
    en: String,
    sms_template: String,
}

/// The text of one kind of notice.
#[derive(Debug, Clone)]
pub struct Template {
    /// Chinese, with `{variable}`s.
    pub zh: String,
    /// English, with `{variable}`s.
    pub en: String,
    /// The SMS provider's template code.
    pub sms_template: String,
}

/// Every kind's template, checked.
#[derive(Debug, Clone)]
pub struct Templates {
    by_kind: BTreeMap<Kind, Template>,
}

/// What a notice is filled with.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// The case's title.
    pub title: String,
    /// The case number.
    pub case: String,
    /// The office that acted.
    pub authority: String,
    /// The reason given, or empty.
    pub reason: String,
    /// The day, China time.
    pub date: String,
}

impl Values {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "title" => &self.title,
            "case" => &self.case,
            "authority" => &self.authority,
            "reason" => &self.reason,
            "date" => &self.date,
            _ => return None,
        })
    }

    /// The SMS template's variables: every value cut to
    /// [`SMS_VARIABLE_CHARS`] characters (a cut one ends in `…`).
    pub fn sms_params(&self) -> serde_json::Value {
        let cut = |v: &str| -> String {
            if v.chars().count() <= SMS_VARIABLE_CHARS {
                v.to_owned()
            } else {
                let mut s: String = v.chars().take(SMS_VARIABLE_CHARS - 1).collect();
                s.push('…');
                s
            }
        };
        let mut map = serde_json::Map::new();
        for name in VARIABLES {
            if let Some(v) = self.get(name) {
                map.insert(name.to_owned(), cut(v).into());
            }
        }
        serde_json::Value::Object(map)
    }
}

impl Templates {
    /// Reads `tenants/_reference/notifications.toml` under `tenants_dir`.
    pub fn load(tenants_dir: &Path) -> Result<Templates, NotifyError> {
        let path = tenants_dir.join("_reference").join("notifications.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| NotifyError::Templates(format!("{}: {e}", path.display())))?;
        Templates::parse(&text)
            .map_err(|e| NotifyError::Templates(format!("{}: {e}", path.display())))
    }

    /// Parses and checks the file's text: every kind present, no other,
    /// every `{variable}` known, every brace closed.
    pub fn parse(text: &str) -> Result<Templates, String> {
        let files: BTreeMap<String, TemplateFile> =
            toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_kind = BTreeMap::new();
        for (name, file) in files {
            let kind =
                Kind::parse(&name).ok_or_else(|| format!("unknown kind of notice [{name}]"))?;
            for (lang, text) in [("zh", &file.zh), ("en", &file.en)] {
                check(text).map_err(|e| format!("[{name}] {lang}: {e}"))?;
            }
            if file.sms_template.trim().is_empty() {
                return Err(format!("[{name}] sms_template is empty"));
            }
            by_kind.insert(
                kind,
                Template {
                    zh: file.zh,
                    en: file.en,
                    sms_template: file.sms_template,
                },
            );
        }
        if let Some(missing) = Kind::ALL.iter().find(|k| !by_kind.contains_key(*k)) {
            return Err(format!("no notice for [{}]", missing.as_str()));
        }
        Ok(Templates { by_kind })
    }

    /// The template of `kind` (every kind has one: [`Templates::parse`]).
    pub fn template(&self, kind: Kind) -> Result<&Template, NotifyError> {
        self.by_kind
            .get(&kind)
            .ok_or_else(|| NotifyError::Templates(format!("no notice for {}", kind.as_str())))
    }
}

/// Fills `text`'s variables with `values` (checked at load: every name is
/// known, every brace closed).
pub fn fill(text: &str, values: &Values) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                out.push_str(values.get(name).unwrap_or_default());
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn check(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("empty".into());
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed {{ in {text:?}"))?;
        let name = &after[..close];
        if !VARIABLES.contains(&name) {
            return Err(format!(
                "unknown variable {{{name}}} (known: {})",
                VARIABLES.join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unopened }} in {text:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tenants/_reference/notifications.toml");
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_shipped_notices_cover_every_kind_in_both_languages() {
        let templates = Templates::parse(&shipped()).unwrap_or_else(|e| panic!("{e}"));
        for kind in Kind::ALL {
            let t = templates.template(kind).unwrap_or_else(|e| panic!("{e}"));
            assert!(!t.zh.is_empty() && !t.en.is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn a_notice_is_filled_with_the_case_values() {
        let values = Values {
            title: "助餐补贴申请".into(),
            case: "C-1".into(),
            authority: "浦东新区·民政".into(),
            reason: "缺少户籍证明".into(),
            date: "2026-12-06".into(),
        };
        assert_eq!(
            fill("“{title}”被{authority}退回补正，原因：{reason}。", &values),
            "“助餐补贴申请”被浦东新区·民政退回补正，原因：缺少户籍证明。"
        );
    }

    #[test]
    fn unknown_variables_unclosed_braces_and_missing_kinds_are_refused() {
        let one = shipped().replace("{case}", "{case_no}");
        let e = Templates::parse(&one).err().unwrap_or_default();
        assert!(e.contains("unknown variable {case_no}"), "{e}");
        let two = shipped().replacen("“{title}”已于 {date} 提交", "“{title”已于 {date} 提交", 1);
        assert!(Templates::parse(&two).is_err());
        let three = shipped().replace("[withdrawn]", "[withdrew]");
        let e = Templates::parse(&three).err().unwrap_or_default();
        assert!(e.contains("unknown kind of notice [withdrew]"), "{e}");
    }

    #[test]
    fn sms_variables_are_cut_to_the_providers_limit() {
        let values = Values {
            title: "一".repeat(50),
            ..Values::default()
        };
        let params = values.sms_params();
        let title = params["title"].as_str().unwrap_or_default();
        assert_eq!(title.chars().count(), SMS_VARIABLE_CHARS);
        assert!(title.ends_with('…'));
    }
}
