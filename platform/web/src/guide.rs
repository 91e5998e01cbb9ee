//! What an application asks for, read from the service's input schema
//! (JSON Schema 2020-12): the 办事指南's list of fields.
//!
//! Labels come from each property's `title`, written `中文 / English`;
//! a labelled choice is `oneOf` of `const` with a `title` each (plain `enum`
//! values are shown as they are). Properties marked `readOnly` are filled
//! by the platform, not the applicant, and are left out.

use serde_json::Value;

/// A text in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bilingual {
    /// Chinese.
    pub zh: String,
    /// English (empty when the schema gives none).
    pub en: String,
}

impl Bilingual {
    /// `中文 / English` split at the first ` / `.
    pub fn parse(text: &str) -> Bilingual {
        match text.split_once(" / ") {
            Some((zh, en)) => Bilingual {
                zh: zh.trim().to_owned(),
                en: en.trim().to_owned(),
            },
            None => Bilingual {
                zh: text.trim().to_owned(),
                en: String::new(),
            },
        }
    }
}

/// What kind of answer a field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A calendar date.
    Date,
    /// Yes or no.
    YesNo,
    /// A whole number, perhaps within bounds.
    WholeNumber {
        /// The least allowed.
        minimum: Option<i64>,
        /// The most allowed.
        maximum: Option<i64>,
    },
    /// One of these choices (value, label).
    Choice(Vec<(String, Bilingual)>),
    /// Free text.
    Text,
}

/// One field the applicant fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The property's name in the case data.
    pub name: String,
    /// Its label.
    pub label: Bilingual,
    /// Whether the application needs it.
    pub required: bool,
    /// What it takes.
    pub answer: Answer,
}

/// The fields of `schema` the applicant fills in: the required ones in the
/// order of the schema's `required` list (the order its author chose; a
/// JSON object's own order is not kept), then the optional ones by name.
pub fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let rank = |name: &str| {
        required
            .iter()
            .position(|r| *r == name)
            .unwrap_or(required.len())
    };
    let mut named: Vec<(&String, &Value)> = properties
        .iter()
        .filter(|(_, p)| p.get("readOnly").and_then(Value::as_bool) != Some(true))
        .collect();
    named.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
    named
        .into_iter()
        .map(|(name, p)| Field {
            name: name.clone(),
            label: Bilingual::parse(
                p.get("title")
                    .or_else(|| p.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or(name),
            ),
            required: required.contains(&name.as_str()),
            answer: answer(p),
        })
        .collect()
}

fn answer(p: &Value) -> Answer {
    if let Some(choices) = p.get("oneOf").and_then(Value::as_array) {
        let labelled: Vec<(String, Bilingual)> = choices
            .iter()
            .filter_map(|c| {
                let value = c.get("const")?.as_str()?.to_owned();
                let label = c
                    .get("title")
                    .and_then(Value::as_str)
                    .map_or_else(|| Bilingual::parse(&value), Bilingual::parse);
                Some((value, label))
            })
            .collect();
        if labelled.len() == choices.len() {
            return Answer::Choice(labelled);
        }
    }
    if let Some(values) = p.get("enum").and_then(Value::as_array) {
        return Answer::Choice(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(|v| (v.to_owned(), Bilingual::parse(v)))
                .collect(),
        );
    }
    match p.get("type").and_then(Value::as_str) {
        Some("boolean") => Answer::YesNo,
        Some("integer") => Answer::WholeNumber {
            minimum: p.get("minimum").and_then(Value::as_i64),
            maximum: p.get("maximum").and_then(Value::as_i64),
        },
        Some("string") if p.get("format").and_then(Value::as_str) == Some("date") => Answer::Date,
        _ => Answer::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_becomes_the_fields_an_applicant_fills_in() {
        let schema = json!({
            "type": "object",
            "required": ["status", "birth_date"],
            "properties": {
                "case_id": { "type": "string", "readOnly": true },
                "birth_date": { "type": "string", "format": "date", "title": "出生日期 / Date of birth" },
                "status": { "title": "经济状况 / Economic status", "oneOf": [
                    { "const": "low-income", "title": "低收入 / Low income" },
                    { "const": "none", "title": "一般 / None" }
                ]},
                "grade": { "type": "integer", "minimum": 0, "maximum": 4, "description": "残疾等级" },
                "alone": { "type": "boolean", "title": "是否独居" },
                "kind": { "enum": ["a", "b"] }
            }
        });
        let fields = fields(&schema);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        // readOnly is the platform's; required first as listed, then the
        // rest by name.
        assert_eq!(names, ["status", "birth_date", "alone", "grade", "kind"]);
        let birth = fields.iter().find(|f| f.name == "birth_date").unwrap();
        assert_eq!(birth.answer, Answer::Date);
        assert!(birth.required);
        assert_eq!(birth.label.en, "Date of birth");
        let status = fields.iter().find(|f| f.name == "status").unwrap();
        assert_eq!(
            status.answer,
            Answer::Choice(vec![
                (
                    "low-income".into(),
                    Bilingual {
                        zh: "低收入".into(),
                        en: "Low income".into()
                    }
                ),
                (
                    "none".into(),
                    Bilingual {
                        zh: "一般".into(),
                        en: "None".into()
                    }
                ),
            ])
        );
        let grade = fields.iter().find(|f| f.name == "grade").unwrap();
        assert_eq!(grade.label.zh, "残疾等级");
        assert!(!grade.required);
        assert_eq!(
            grade.answer,
            Answer::WholeNumber {
                minimum: Some(0),
                maximum: Some(4)
            }
        );
        assert_eq!(
            fields.iter().find(|f| f.name == "alone").unwrap().answer,
            Answer::YesNo
        );
        assert!(
            matches!(&fields.iter().find(|f| f.name == "kind").unwrap().answer, Answer::Choice(c) if c.len() == 2)
        );
    }

    #[test]
    fn a_schema_without_properties_asks_for_nothing() {
        assert!(fields(&json!({ "type": "object" })).is_empty());
        assert!(fields(&json!(true)).is_empty());
    }
}
