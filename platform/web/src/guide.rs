//! What an application asks for, read from the service's input schema
//! (JSON Schema 2020-12): the 办事指南's list of fields.
//!
//! Labels come from each property's `title`, written `中文 / English`;
//! a labelled choice is `oneOf` of `const` with a `title` each (plain `enum`
//! values are shown as they are). Properties marked `readOnly` are filled
//! by the platform, not the applicant, and are left out.

use serde_json::{Map, Value};

use crate::{Lang, Msg};

/// A text in both languages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bilingual {
    /// Chinese.
    pub zh: String,
    /// English (empty when the schema gives none).
    pub en: String,
}

impl From<(String, String)> for Bilingual {
    fn from((zh, en): (String, String)) -> Bilingual {
        Bilingual { zh, en }
    }
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

/// What is wrong with one answer of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A required field was left empty.
    Missing,
    /// Not a whole number.
    NotANumber,
    /// A number outside the allowed range.
    OutOfRange {
        /// The least allowed.
        minimum: Option<i64>,
        /// The most allowed.
        maximum: Option<i64>,
    },
    /// Not one of the choices.
    NotAChoice,
    /// Not a date written year-month-day.
    NotADate,
    /// Refused by the service's own rule (a message from the platform).
    Said(String, String),
}

impl Problem {
    /// What to tell the applicant.
    pub fn text(&self, lang: Lang) -> String {
        match self {
            Problem::Missing => Msg::ProblemMissing.text(lang).to_owned(),
            Problem::NotANumber => Msg::ProblemNotANumber.text(lang).to_owned(),
            Problem::OutOfRange { minimum, maximum } => match (minimum, maximum) {
                (Some(lo), Some(hi)) => format!("{}{lo}–{hi}", Msg::ProblemRange.text(lang)),
                _ => Msg::ProblemNotANumber.text(lang).to_owned(),
            },
            Problem::NotAChoice => Msg::ProblemNotAChoice.text(lang).to_owned(),
            Problem::NotADate => Msg::ProblemNotADate.text(lang).to_owned(),
            Problem::Said(zh, en) => lang.pick(zh, en).to_owned(),
        }
    }
}

/// The document a form's answers make, typed as the schema says: numbers
/// as numbers, yes/no as booleans, empty optional answers left out. Every
/// answer that cannot be read is named, with its problem.
pub fn document(
    fields: &[Field],
    answers: &[(String, String)],
) -> Result<Value, Vec<(String, Problem)>> {
    let answer = |name: &str| {
        answers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut document = Map::new();
    let mut problems = Vec::new();
    for field in fields {
        let Some(text) = answer(&field.name) else {
            if field.required {
                problems.push((field.name.clone(), Problem::Missing));
            }
            continue;
        };
        let value = match &field.answer {
            Answer::Text => Ok(Value::String(text.to_owned())),
            Answer::Date => {
                if chrono_like_date(text) {
                    Ok(Value::String(text.to_owned()))
                } else {
                    Err(Problem::NotADate)
                }
            }
            Answer::YesNo => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(Problem::NotAChoice),
            },
            Answer::WholeNumber { minimum, maximum } => match text.parse::<i64>() {
                Err(_) => Err(Problem::NotANumber),
                Ok(n) if minimum.is_some_and(|lo| n < lo) || maximum.is_some_and(|hi| n > hi) => {
                    Err(Problem::OutOfRange {
                        minimum: *minimum,
                        maximum: *maximum,
                    })
                }
                Ok(n) => Ok(Value::from(n)),
            },
            Answer::Choice(choices) => {
                if choices.iter().any(|(v, _)| v == text) {
                    Ok(Value::String(text.to_owned()))
                } else {
                    Err(Problem::NotAChoice)
                }
            }
        };
        match value {
            Ok(v) => {
                document.insert(field.name.clone(), v);
            }
            Err(p) => problems.push((field.name.clone(), p)),
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(document))
    } else {
        Err(problems)
    }
}

/// `YYYY-MM-DD` naming a real day (the Gregorian calendar's rules).
fn chrono_like_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
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

    fn meal_fields() -> Vec<Field> {
        fields(&json!({
            "type": "object",
            "required": ["birth_date", "alone", "status"],
            "properties": {
                "birth_date": { "type": "string", "format": "date", "title": "出生日期" },
                "alone": { "type": "boolean", "title": "是否独居" },
                "status": { "oneOf": [{ "const": "none", "title": "一般" }, { "const": "low-income", "title": "低收入" }] },
                "grade": { "type": "integer", "minimum": 0, "maximum": 4 },
                "note": { "type": "string" }
            }
        }))
    }

    fn answers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn answers_become_a_document_typed_as_the_schema_says() {
        let document = document(
            &meal_fields(),
            &answers(&[
                ("birth_date", "1940-02-29"),
                ("alone", "true"),
                ("status", "low-income"),
                ("grade", " 2 "),
                ("note", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            document,
            json!({ "birth_date": "1940-02-29", "alone": true, "status": "low-income", "grade": 2 })
        );
    }

    #[test]
    fn every_answer_that_cannot_be_read_is_named() {
        let problems = document(
            &meal_fields(),
            &answers(&[
                ("birth_date", "1941-02-29"),
                ("alone", "maybe"),
                ("grade", "5"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                ("birth_date".to_owned(), Problem::NotADate),
                ("alone".to_owned(), Problem::NotAChoice),
                ("status".to_owned(), Problem::Missing),
                (
                    "grade".to_owned(),
                    Problem::OutOfRange {
                        minimum: Some(0),
                        maximum: Some(4)
                    }
                ),
            ]
        );
        assert_eq!(Problem::Missing.text(Lang::Zh), "请填写此项");
        assert!(
            Problem::OutOfRange {
                minimum: Some(0),
                maximum: Some(4)
            }
            .text(Lang::Zh)
            .contains("0–4")
        );
        let typed = document(
            &meal_fields(),
            &answers(&[
                ("birth_date", "1940-01-01"),
                ("alone", "false"),
                ("status", "none"),
                ("grade", "two"),
            ]),
        );
        assert_eq!(
            typed.unwrap_err(),
            vec![("grade".to_owned(), Problem::NotANumber)]
        );
    }
}
