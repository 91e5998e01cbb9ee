//! The service catalog.
//!
//! A service is a shared function of a line of business, e.g.
//! `civil-affairs/meal-subsidy` (助餐补贴). Its definition lives in
//! `tenants/_services/<line>/<name>/`:
//!
//! ```text
//! service.toml          id, names, line, world, fuel budget
//! input.schema.json     JSON Schema of the documents a module is given
//! output.schema.json    JSON Schema of the documents a module must return
//! examples/*.json       example inputs (conformance runs every one)
//! starter.rs            the rule `civitas module new` starts from
//! ```
//!
//! A property of the input schema that holds personal data says so with
//! `"x-personal"` and the kind of data (`name`, `id_number`, `phone`,
//! `bank_account`, `address`, `email`, `date`): staff see it masked, and in
//! full only through an audited reveal ([`Service::personal`]); it is never
//! `x-searchable` (indexed text shows in search hits).
//!
//! Platform reference data (the dictionaries modules look up) lives in
//! `tenants/_reference/dictionaries.toml`. [`Catalog::load`] reads and checks
//! all of it and reports every problem with its file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

/// Reference data: dictionary → code → label.
pub type Dictionaries = BTreeMap<String, BTreeMap<String, String>>;

/// Why the catalog cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A document does not match a service's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("文档不符合服务 {service} 的{which}模式 / the document does not match the {which_en} schema of {service}: {}", violations.join("; "))]
pub struct SchemaViolation {
    /// The service.
    pub service: String,
    /// `输入` or `输出`.
    pub which: &'static str,
    /// `input` or `output`.
    pub which_en: &'static str,
    /// Each violation: the JSON pointer and what is wrong.
    pub violations: Vec<String>,
}

/// An example input of a service.
#[derive(Debug, Clone)]
pub struct Example {
    /// The file name, e.g. `lives-alone-82.json`.
    pub name: String,
    /// The document.
    pub input: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    id: String,
    name: String,
    name_en: String,
    line: String,
    world: String,
    fuel_budget: u64,
    #[serde(default)]
    description: String,
}

/// What kind of personal data a field of an application holds: how it is
/// masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalKind {
    /// A personal name (`张*`).
    Name,
    /// A resident identity number (`310***********1234`).
    IdNumber,
    /// A phone number (`138****5678`).
    Phone,
    /// A bank account number.
    BankAccount,
    /// An address, kept to its district.
    Address,
    /// An e-mail address.
    Email,
    /// A date such as a date of birth, kept to its year.
    Date,
}

impl PersonalKind {
    /// The kind an `"x-personal"` annotation names, if it is one.
    pub fn parse(annotation: &str) -> Option<PersonalKind> {
        Some(match annotation {
            "name" => PersonalKind::Name,
            "id_number" => PersonalKind::IdNumber,
            "phone" => PersonalKind::Phone,
            "bank_account" => PersonalKind::BankAccount,
            "address" => PersonalKind::Address,
            "email" => PersonalKind::Email,
            "date" => PersonalKind::Date,
            _ => return None,
        })
    }
}

/// One service.
pub struct Service {
    /// `line/name`, e.g. `civil-affairs/meal-subsidy`.
    pub id: String,
    /// Chinese name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// The line of business.
    pub line: String,
    /// The world its modules implement (`evaluator`).
    pub world: String,
    /// Fuel a call may use on this service (≤ the host's limit).
    pub fuel_budget: u64,
    /// What the service decides.
    pub description: String,
    /// Example inputs.
    pub examples: Vec<Example>,
    /// The starter rule for new modules, if the service has one.
    pub starter: Option<String>,
    /// The input schema.
    pub input_schema: Value,
    /// The output schema.
    pub output_schema: Value,
    /// The input's properties that hold personal data, by name, with their
    /// kind (the schema's `"x-personal"` annotations).
    pub personal: BTreeMap<String, PersonalKind>,
    input: jsonschema::Validator,
    output: jsonschema::Validator,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The top-level fields of the output (the output schema's
    /// `properties`): what a flow's hook may require (`reject_unless`) or
    /// guard.
    pub fn output_fields(&self) -> std::collections::BTreeSet<String> {
        self.output_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Reads more example inputs from `dir` (its `*.json` files, in name
    /// order), each checked against the input schema — a module's own
    /// examples beside the service's.
    pub fn read_examples(&self, dir: &Path) -> Result<Vec<Example>, CatalogError> {
        read_examples(dir, &self.input)
    }

    /// Checks an input document against the input schema.
    pub fn check_input(&self, document: &Value) -> Result<(), SchemaViolation> {
        self.check(&self.input, document, ("输入", "input"))
    }

    /// Checks an output document against the output schema.
    pub fn check_output(&self, document: &Value) -> Result<(), SchemaViolation> {
        self.check(&self.output, document, ("输出", "output"))
    }

    fn check(
        &self,
        validator: &jsonschema::Validator,
        document: &Value,
        (which, which_en): (&'static str, &'static str),
    ) -> Result<(), SchemaViolation> {
        let violations: Vec<String> = validator
            .iter_errors(document)
            .take(20)
            .map(|error| {
                let pointer = error.instance_path().to_string();
                let at = if pointer.is_empty() {
                    "/".to_owned()
                } else {
                    pointer
                };
                format!("{at}: {error}")
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(SchemaViolation {
                service: self.id.clone(),
                which,
                which_en,
                violations,
            })
        }
    }
}

/// Every service, and the platform's reference data.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    services: BTreeMap<String, Arc<Service>>,
    dictionaries: Arc<Dictionaries>,
}

impl Catalog {
    /// Loads `<tenants>/_services/**/service.toml` and
    /// `<tenants>/_reference/dictionaries.toml` (both optional).
    pub fn load(tenants_dir: &Path) -> Result<Catalog, CatalogError> {
        let mut services = BTreeMap::new();
        let root = tenants_dir.join("_services");
        if root.is_dir() {
            let mut files = Vec::new();
            find_service_files(&root, &mut files)?;
            for file in files {
                let service = load_service(&file)?;
                services.insert(service.id.clone(), Arc::new(service));
            }
        }
        let dictionaries_file = tenants_dir.join("_reference").join("dictionaries.toml");
        let dictionaries = if dictionaries_file.is_file() {
            let text = read(&dictionaries_file)?;
            toml::from_str::<Dictionaries>(&text).map_err(|error| CatalogError::Invalid {
                path: dictionaries_file.clone(),
                message: format!("每个字典是「代码 = 名称」表 / each dictionary is a table of code = label: {error}"),
            })?
        } else {
            Dictionaries::new()
        };
        Ok(Catalog {
            services,
            dictionaries: Arc::new(dictionaries),
        })
    }

    /// The service `id`.
    pub fn service(&self, id: &str) -> Option<&Arc<Service>> {
        self.services.get(id)
    }

    /// Every service, by id.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// The reference data.
    pub fn dictionaries(&self) -> &Arc<Dictionaries> {
        &self.dictionaries
    }
}

fn read(path: &Path) -> Result<String, CatalogError> {
    std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, message: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn find_service_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if path.file_name().and_then(|n| n.to_str()) != Some("examples") {
                find_service_files(&path, found)?;
            }
        } else if path.file_name().and_then(|n| n.to_str()) == Some("service.toml") {
            found.push(path);
        }
    }
    Ok(())
}

fn load_json(path: &Path) -> Result<Value, CatalogError> {
    serde_json::from_str(&read(path)?)
        .map_err(|error| invalid(path, format!("JSON 无效 / invalid JSON: {error}")))
}

/// The `*.json` files of `dir`, in name order, each checked against the
/// input schema `input`.
fn read_examples(dir: &Path, input: &jsonschema::Validator) -> Result<Vec<Example>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let document = load_json(&path)?;
            if let Err(violation) = input.validate(&document) {
                return Err(invalid(
                    &path,
                    format!(
                        "示例不符合输入模式 / the example does not match the input schema: {violation}"
                    ),
                ));
            }
            Ok(Example {
                name: path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned(),
                input: document,
            })
        })
        .collect()
}

fn load_service(file: &Path) -> Result<Service, CatalogError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let definition: ServiceFile =
        toml::from_str(&read(file)?).map_err(|error| invalid(file, error.to_string()))?;
    let expected_id = format!(
        "{}/{}",
        definition.line,
        dir.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    );
    if definition.id != expected_id {
        return Err(invalid(
            file,
            format!(
                "服务标识应为 {expected_id}（条线/目录名）/ the id must be {expected_id} (line/directory), not {}",
                definition.id
            ),
        ));
    }
    if definition.world != "evaluator" {
        return Err(invalid(
            file,
            format!(
                "未知的 world / unknown world {:?}; services use \"evaluator\"",
                definition.world
            ),
        ));
    }
    if definition.fuel_budget == 0 {
        return Err(invalid(file, "fuel_budget must be positive"));
    }
    let schema = |name: &str| -> Result<(Value, jsonschema::Validator), CatalogError> {
        let path = dir.join(name);
        let value = load_json(&path)?;
        let validator = jsonschema::validator_for(&value).map_err(|error| {
            invalid(
                &path,
                format!("JSON Schema 无效 / invalid JSON Schema: {error}"),
            )
        })?;
        Ok((value, validator))
    };
    let (input_schema, input) = schema("input.schema.json")?;
    let (output_schema, output) = schema("output.schema.json")?;
    let personal = personal_fields(&input_schema)
        .map_err(|message| invalid(&dir.join("input.schema.json"), message))?;
    let examples_dir = dir.join("examples");
    let examples = if examples_dir.is_dir() {
        read_examples(&examples_dir, &input)?
    } else {
        Vec::new()
    };
    if examples.is_empty() {
        return Err(invalid(
            dir,
            "服务至少需要一个示例输入 / a service needs at least one example input in examples/",
        ));
    }
    let starter_path = dir.join("starter.rs");
    let starter = if starter_path.is_file() {
        Some(read(&starter_path)?)
    } else {
        None
    };
    Ok(Service {
        id: definition.id,
        name: definition.name,
        name_en: definition.name_en,
        line: definition.line,
        world: definition.world,
        fuel_budget: definition.fuel_budget,
        description: definition.description,
        examples,
        starter,
        input_schema,
        output_schema,
        personal,
        input,
        output,
    })
}

/// The top-level properties of `schema` annotated `"x-personal"`. An
/// annotation that names no kind is an error: a field meant to be masked
/// is never shown in full by a misspelling.
fn personal_fields(schema: &Value) -> Result<BTreeMap<String, PersonalKind>, String> {
    let mut personal = BTreeMap::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(personal);
    };
    for (name, property) in properties {
        let Some(annotation) = property.get("x-personal") else {
            continue;
        };
        let kind = annotation.as_str().and_then(PersonalKind::parse).ok_or_else(|| {
            format!(
                "属性 {name} 的 x-personal 须为 name、id_number、phone、bank_account、address、email 或 date / \
                 x-personal of property {name} must be name, id_number, phone, bank_account, address, email or date, not {annotation}"
            )
        })?;
        // Search hits show what they match in clear: personal data is
        // never indexed.
        if property.get("x-searchable").and_then(Value::as_bool) == Some(true) {
            return Err(format!(
                "属性 {name} 是个人信息（x-personal），不能标记为可检索（x-searchable）/ \
                 property {name} is personal data (x-personal) and cannot be x-searchable"
            ));
        }
        personal.insert(name.clone(), kind);
    }
    Ok(personal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotated_properties_are_personal_data_of_their_kind() {
        let schema = json!({"type": "object", "properties": {
            "birth_date": {"type": "string", "x-personal": "date"},
            "contact_phone": {"type": "string", "x-personal": "phone"},
            "living_alone": {"type": "boolean"}}});
        let personal = personal_fields(&schema);
        assert_eq!(
            personal,
            Ok(BTreeMap::from([
                ("birth_date".to_owned(), PersonalKind::Date),
                ("contact_phone".to_owned(), PersonalKind::Phone),
            ]))
        );
    }

    #[test]
    fn an_annotation_naming_no_kind_is_refused_so_nothing_meant_masked_shows() {
        for annotation in [json!("phon"), json!(true), json!(null)] {
            let schema = json!({"properties": {"contact_phone": {"x-personal": annotation}}});
            let refused = personal_fields(&schema);
            assert!(
                refused.as_ref().is_err_and(|m| m.contains("contact_phone")),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn personal_data_is_never_searchable() {
        let schema = json!({"properties": {"name": {"type": "string", "x-personal": "name", "x-searchable": true}}});
        let refused = personal_fields(&schema);
        assert!(
            refused.as_ref().is_err_and(|m| m.contains("x-searchable")),
            "{refused:?}"
        );
    }

    #[test]
    fn the_shipped_catalog_marks_the_meal_subsidy_applicants_personal_data() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tenants");
        let catalog = Catalog::load(&dir).unwrap();
        let service = catalog.service("civil-affairs/meal-subsidy");
        assert_eq!(
            service.map(|s| s.personal.get("birth_date").copied()),
            Some(Some(PersonalKind::Date))
        );
    }
}
