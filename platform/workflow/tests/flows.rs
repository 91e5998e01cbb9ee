//! Flow files: the shipped ones load; a broken one is refused with every
//! problem named; variants resolve along the tenant path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use civitas_tenancy::{TenantPath, TenantTree};
use civitas_workflow::FlowCatalog;
use civitas_workflow::flow::Context;

fn tree() -> TenantTree {
    TenantTree::load(&civitas_testkit::tenants_dir()).unwrap()
}

fn roles() -> BTreeSet<String> {
    ["officer", "reviewer", "tenant-admin"]
        .map(String::from)
        .into()
}

fn services() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    civitas_testkit::module_services()
}

#[test]
fn the_shipped_flows_load_and_pudong_gets_its_variant() {
    let tree = tree();
    let catalog = FlowCatalog::load(
        &civitas_testkit::tenants_dir(),
        &Context {
            tree: &tree,
            roles: &roles(),
            module_services: &services(),
        },
    )
    .unwrap();
    let lujiazui = TenantPath::parse("310000/310115/310115005").unwrap();
    let huangpu = TenantPath::parse("310000/310101").unwrap();
    let title = "hr-social-security/title-review";
    assert_eq!(
        catalog.resolve(title, &lujiazui).unwrap().variant_key(),
        "310000/310115"
    );
    assert_eq!(catalog.resolve(title, &huangpu).unwrap().variant_key(), "");
    assert!(catalog.resolve("civil-affairs/no-such", &huangpu).is_none());
}

#[test]
fn a_broken_flow_is_refused_with_every_problem_named() {
    let tree = tree();
    let text = r#"
service = "civil-affairs/meal-subsidy"
name = "x"
name_en = "x"
line = "civil-affairs"

[limit]
days = 90

[[hook]]
name = "h"
on = "submit"
service = "housing/no-module"

[[hook]]
name = "fair"
on = "submit"
service = "civil-affairs/meal-subsidy"
reject_unless = "eligble"
guard = "scroe"

[[step]]
id = "first"
name = "a"
name_en = "a"
actors = [{ role = "mayor", at = "street" }]
actions = ["approve", "fly"]
deadline = { days = 5 }
next = "second"

[[step]]
id = "second"
name = "b"
name_en = "b"
actors = []
actions = ["approve"]
rule = "all"

[[step]]
id = "orphan"
name = "c"
name_en = "c"
actors = [{ role = "officer", at = "galaxy" }]
actions = ["approve"]
"#;
    let errors = FlowCatalog::from_texts(
        vec![(
            PathBuf::from("tenants/_services/civil-affairs/meal-subsidy/flow.toml"),
            text.into(),
        )],
        &Context {
            tree: &tree,
            roles: &roles(),
            module_services: &services(),
        },
    )
    .unwrap_err();
    let all = errors.problems.join("\n");
    for expected in [
        "[limit]: 期限缺少单位",
        "未知角色 (unknown role) “mayor”",
        "未知动作 (unknown action) “fly”",
        "步骤 (step) first: 期限缺少单位",
        "步骤 (step) second: 步骤没有办理人 (the step has no actor)",
        "会签 rule = \"all\" 需要至少两个办理人",
        "未知层级 (unknown level) “galaxy”",
        "步骤 orphan 不可达",
        "服务 housing/no-module 没有模块扩展点",
        "reject_unless 字段 “eligble” 不在服务 civil-affairs/meal-subsidy 的输出中",
        "guard 字段 “scroe” 不在服务 civil-affairs/meal-subsidy 的输出中",
    ] {
        assert!(all.contains(expected), "{expected} in:\n{all}");
    }
}

fn flow_with_actors(places: &[&str]) -> String {
    let mut text = String::from(
        "service = \"civil-affairs/meal-subsidy\"\nname = \"x\"\nname_en = \"x\"\nline = \"civil-affairs\"\n",
    );
    for (i, place) in places.iter().enumerate() {
        let next = if i + 1 < places.len() {
            format!("next = \"s{}\"\n", i + 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "\n[[step]]\nid = \"s{i}\"\nname = \"s\"\nname_en = \"s\"\nactors = [{{ role = \"officer\", at = \"{place}\" }}]\nactions = [\"approve\"]\n{next}"
        ));
    }
    text
}

#[test]
fn actors_sit_at_any_level_the_tree_defines_or_relative_to_the_case() {
    let tree = tree();
    let context = Context {
        tree: &tree,
        roles: &roles(),
        module_services: &services(),
    };
    let path = PathBuf::from("tenants/_services/civil-affairs/meal-subsidy/flow.toml");
    let good = flow_with_actors(&["community", "unit", "parent", "ancestor:district", "case"]);
    let catalog = FlowCatalog::from_texts(vec![(path.clone(), good)], &context).unwrap();
    let flow = catalog
        .resolve(
            "civil-affairs/meal-subsidy",
            &TenantPath::parse("310000").unwrap(),
        )
        .unwrap();
    let written: Vec<String> = flow
        .steps
        .iter()
        .map(|s| s.actors[0].at.as_written())
        .collect();
    assert_eq!(
        written,
        ["community", "unit", "parent", "ancestor:district", "case"]
    );

    // A level the tree does not define is named, with the tree's levels.
    let bad = flow_with_actors(&["hamlet", "ancestor:galaxy"]);
    let errors = FlowCatalog::from_texts(vec![(path, bad)], &context).unwrap_err();
    let all = errors.problems.join("\n");
    assert!(all.contains("未知层级 (unknown level) “hamlet”"), "{all}");
    assert!(all.contains("未知层级 (unknown level) “galaxy”"), "{all}");
    assert!(all.contains("community, unit"), "{all}");
}
