//! How the tenant tree is loaded and how each kind of configuration mistake
//! is reported: with its file, its line and a message in Chinese and English.

use std::path::{Path, PathBuf};

use civitas_tenancy::{ConfigErrorKind, ConfigErrors, Level, Source, TenantPath, TenantTree};

const LINES: &str = r#"
[[line]]
code = "civil-affairs"
name = "民政"
name_en = "Civil affairs"

[[line]]
code = "housing"
name = "房屋管理"
name_en = "Housing"
"#;

fn node(code: &str, level: &str, parent: Option<&str>, slug: &str) -> String {
    let parent = parent
        .map(|p| format!("parent = \"{p}\"\n"))
        .unwrap_or_default();
    format!(
        "code = \"{code}\"\nlevel = \"{level}\"\n{parent}name = \"名{code}\"\nname_en = \"N{code}\"\nslug = \"{slug}\"\nlines = [\"civil-affairs\"]\n"
    )
}

/// A small valid Shanghai tree, as (file name, text).
fn shanghai() -> Vec<Source> {
    vec![
        Source::new("lines.toml", LINES),
        Source::new("sh/310000.toml", node("310000", "city", None, "shanghai")),
        Source::new(
            "sh/310115.toml",
            node("310115", "district", Some("310000"), "pudong"),
        ),
        Source::new(
            "sh/310101.toml",
            node("310101", "district", Some("310000"), "huangpu"),
        ),
        Source::new(
            "sh/310115005.toml",
            node("310115005", "street", Some("310115"), "lujiazui"),
        ),
    ]
}

fn with(mut sources: Vec<Source>, name: &str, text: &str) -> Vec<Source> {
    sources.retain(|s| s.name != Path::new(name));
    sources.push(Source::new(name, text));
    sources
}

fn errors_of(sources: Vec<Source>) -> ConfigErrors {
    match TenantTree::from_sources(sources) {
        Ok(_) => panic!("an invalid tree was accepted"),
        Err(errors) => errors,
    }
}

/// Asserts that exactly one error was reported, at `file:line`, and returns its kind.
fn single_error(sources: Vec<Source>, file: &str, line: usize) -> ConfigErrorKind {
    let errors = errors_of(sources);
    assert_eq!(errors.len(), 1, "expected one error, got:\n{errors}");
    let error = &errors.0[0];
    assert_eq!(error.file, PathBuf::from(file), "{error}");
    assert_eq!(error.line, Some(line), "{error}");
    error.kind.clone()
}

#[test]
fn a_valid_tree_is_addressable_by_path_and_by_slug() {
    let tree = TenantTree::from_sources(shanghai()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.len(), 4);
    let lujiazui = tree
        .resolve("shanghai/pudong/lujiazui")
        .expect("slug path resolves");
    assert_eq!(lujiazui.path.as_str(), "310000/310115/310115005");
    assert_eq!(lujiazui.level, Level::parse("street").unwrap());
    assert_eq!(
        tree.resolve("310000/310115/310115005")
            .map(|t| &t.slug_path),
        Some(&"shanghai/pudong/lujiazui".to_owned())
    );
    assert!(
        tree.resolve("/310000/310115/").is_some(),
        "surrounding slashes are ignored"
    );
    assert!(tree.resolve("shanghai/xuhui").is_none());
    assert!(tree.resolve("310000/310104").is_none());
}

#[test]
fn subtree_and_children_follow_the_tree() {
    let tree = TenantTree::from_sources(shanghai()).unwrap_or_else(|e| panic!("{e}"));
    let pudong = TenantPath::parse("310000/310115").unwrap_or_else(|e| panic!("{e}"));
    let subtree: Vec<&str> = tree.subtree(&pudong).map(|t| t.path.as_str()).collect();
    assert_eq!(subtree, ["310000/310115", "310000/310115/310115005"]);
    let city = TenantPath::parse("310000").unwrap_or_else(|e| panic!("{e}"));
    let children: Vec<&str> = tree.children(&city).map(|t| t.code.as_str()).collect();
    assert_eq!(children, ["310101", "310115"], "siblings ordered by code");
    assert_eq!(tree.roots().count(), 1);
}

#[test]
fn depth_is_not_fixed() {
    let sources = vec![
        Source::new("lines.toml", LINES),
        Source::new(
            "sc/510000.toml",
            node("510000", "province", None, "sichuan"),
        ),
        Source::new(
            "sc/511700.toml",
            node("511700", "city", Some("510000"), "dazhou"),
        ),
        Source::new(
            "sc/511724.toml",
            node("511724", "district", Some("511700"), "dazhu"),
        ),
        Source::new(
            "sc/511724100.toml",
            node("511724100", "street", Some("511724"), "zhuyang"),
        ),
    ];
    let tree = TenantTree::from_sources(sources).unwrap_or_else(|e| panic!("{e}"));
    let town = tree
        .resolve("sichuan/dazhou/dazhu/zhuyang")
        .expect("four levels resolve");
    assert_eq!(town.path.as_str(), "510000/511700/511724/511724100");
    assert_eq!(town.path.depth(), 4);
}

#[test]
fn the_repository_tenants_directory_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tenants");
    let tree = TenantTree::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    for district in ["shanghai/pudong", "shanghai/huangpu", "shanghai/xuhui"] {
        let tenant = tree
            .resolve(district)
            .unwrap_or_else(|| panic!("{district} missing"));
        let streets = tree.children(&tenant.path).count();
        assert!(streets >= 2, "{district} has {streets} streets");
    }
    assert_eq!(
        tree.resolve("310000/310115/310115005")
            .map(|t| t.name.as_str()),
        Some("陆家嘴街道")
    );
    assert!(tree.resolve("sichuan/dazhou/dazhu").is_some());
}

#[test]
fn a_bad_code_format_is_reported_at_its_line() {
    let sources = with(
        shanghai(),
        "sh/310101.toml",
        &node("31O101", "district", Some("310000"), "huangpu"),
    );
    let kind = single_error(sources, "sh/310101.toml", 1);
    assert!(
        matches!(kind, ConfigErrorKind::BadCode { ref code } if code == "31O101"),
        "{kind}"
    );
}

#[test]
fn a_street_needs_a_nine_digit_code() {
    let sources = with(
        shanghai(),
        "sh/310115005.toml",
        &node("310115", "street", Some("310115"), "x"),
    );
    let errors = errors_of(sources);
    assert!(
        errors.iter().any(|e| matches!(
            &e.kind,
            ConfigErrorKind::CodeLevelMismatch { expected, .. } if expected.contains("9 digits")
        )),
        "{errors}"
    );
}

#[test]
fn a_code_outside_its_parents_division_is_reported() {
    let sources = with(
        shanghai(),
        "sh/310115005.toml",
        &node("310104005", "street", Some("310115"), "x"),
    );
    let kind = single_error(sources, "sh/310115005.toml", 1);
    assert!(
        matches!(kind, ConfigErrorKind::CodePrefixMismatch { .. }),
        "{kind}"
    );
}

#[test]
fn a_duplicate_code_names_both_files() {
    let mut sources = shanghai();
    sources.push(Source::new(
        "sh/copy.toml",
        node("310115", "district", Some("310000"), "pudong2"),
    ));
    let kind = single_error(sources, "sh/copy.toml", 1);
    assert_eq!(
        kind,
        ConfigErrorKind::DuplicateCode {
            code: "310115".into(),
            other: "sh/310115.toml".into()
        }
    );
}

#[test]
fn an_unknown_parent_is_reported_at_the_parent_line() {
    let sources = with(
        shanghai(),
        "sh/310101.toml",
        &node("310101", "district", Some("310999"), "huangpu"),
    );
    let kind = single_error(sources, "sh/310101.toml", 3);
    assert_eq!(kind, ConfigErrorKind::UnknownParent("310999".into()));
}

#[test]
fn a_parent_cycle_is_reported_once() {
    let mut sources = shanghai();
    sources.push(Source::new(
        "sh/a.toml",
        node("310104", "district", Some("310105"), "a"),
    ));
    sources.push(Source::new(
        "sh/b.toml",
        node("310105", "district", Some("310104"), "b"),
    ));
    let errors = errors_of(sources);
    let cycles: Vec<_> = errors
        .iter()
        .filter(|e| matches!(e.kind, ConfigErrorKind::Cycle(_)))
        .collect();
    assert_eq!(cycles.len(), 1, "{errors}");
    assert_eq!(
        cycles[0].kind,
        ConfigErrorKind::Cycle("310104 → 310105 → 310104".into())
    );
    assert_eq!(cycles[0].line, Some(3));
}

#[test]
fn a_street_directly_under_a_city_is_refused() {
    let sources = with(
        shanghai(),
        "sh/310115005.toml",
        &node("310115005", "street", Some("310000"), "lujiazui"),
    );
    let kind = single_error(sources, "sh/310115005.toml", 3);
    assert_eq!(
        kind,
        ConfigErrorKind::LevelMismatch {
            level: "street".into(),
            parent_level: "city".into()
        }
    );
}

#[test]
fn an_unknown_line_is_reported_at_its_line() {
    let text = node("310101", "district", Some("310000"), "huangpu")
        .replace("\"civil-affairs\"", "\"civil-affairs\", \"fisheries\"");
    let kind = single_error(
        with(shanghai(), "sh/310101.toml", &text),
        "sh/310101.toml",
        7,
    );
    assert_eq!(kind, ConfigErrorKind::UnknownLine("fisheries".into()));
}

#[test]
fn an_unknown_level_is_reported() {
    let sources = with(
        shanghai(),
        "sh/310101.toml",
        &node("310101", "county-ish", Some("310000"), "huangpu"),
    );
    let kind = single_error(sources, "sh/310101.toml", 2);
    assert_eq!(kind, ConfigErrorKind::UnknownLevel("county-ish".into()));
}

#[test]
fn unknown_keys_and_broken_toml_are_syntax_errors_with_lines() {
    let text = format!(
        "{}colour = \"red\"\n",
        node("310101", "district", Some("310000"), "huangpu")
    );
    let kind = single_error(
        with(shanghai(), "sh/310101.toml", &text),
        "sh/310101.toml",
        8,
    );
    assert!(
        matches!(kind, ConfigErrorKind::Syntax(ref m) if m.contains("colour")),
        "{kind}"
    );

    let kind = single_error(
        with(
            shanghai(),
            "sh/310101.toml",
            "code = \"310101\"\nlevel = \n",
        ),
        "sh/310101.toml",
        2,
    );
    assert!(matches!(kind, ConfigErrorKind::Syntax(_)), "{kind}");
}

#[test]
fn slugs_must_be_well_formed_and_unique_among_siblings() {
    let sources = with(
        shanghai(),
        "sh/310101.toml",
        &node("310101", "district", Some("310000"), "Huang Pu"),
    );
    let kind = single_error(sources, "sh/310101.toml", 6);
    assert_eq!(kind, ConfigErrorKind::BadSlug("Huang Pu".into()));

    let sources = with(
        shanghai(),
        "sh/310101.toml",
        &node("310101", "district", Some("310000"), "pudong"),
    );
    let errors = errors_of(sources);
    assert!(
        errors
            .iter()
            .any(|e| matches!(e.kind, ConfigErrorKind::DuplicateSlug { .. })),
        "{errors}"
    );
}

#[test]
fn a_missing_lines_file_is_reported() {
    let mut sources = shanghai();
    sources.retain(|s| s.name != Path::new("lines.toml"));
    let errors = errors_of(sources);
    assert!(
        errors
            .iter()
            .any(|e| e.kind == ConfigErrorKind::MissingLines),
        "{errors}"
    );
}

#[test]
fn every_problem_is_reported_in_one_pass_in_file_order() {
    let mut sources = shanghai();
    sources.push(Source::new(
        "sh/z.toml",
        node("310199", "district", Some("310998"), "z"),
    ));
    sources.push(Source::new(
        "sh/a.toml",
        node("3101", "district", Some("310000"), "a"),
    ));
    let errors = errors_of(sources);
    assert_eq!(errors.len(), 2, "{errors}");
    assert_eq!(errors.0[0].file, PathBuf::from("sh/a.toml"));
    assert_eq!(errors.0[1].file, PathBuf::from("sh/z.toml"));
    let report = errors.to_string();
    assert!(
        report.contains("sh/a.toml:1: 代码格式错误 (bad code format)"),
        "{report}"
    );
    assert!(
        report.contains("sh/z.toml:3: 上级不存在 (unknown parent): 310998"),
        "{report}"
    );
}

#[test]
fn loading_a_directory_skips_underscore_folders_and_reads_nested_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("lines.toml", LINES);
    write(
        "shanghai/310000.toml",
        &node("310000", "city", None, "shanghai"),
    );
    write(
        "shanghai/pudong/310115.toml",
        &node("310115", "district", Some("310000"), "pudong"),
    );
    write("_services/flow.toml", "this is not a tenant = at all");
    let tree = TenantTree::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tree.len(), 2);
    assert_eq!(
        tree.resolve("shanghai/pudong").map(|t| t.source.clone()),
        Some(PathBuf::from("shanghai/pudong/310115.toml"))
    );

    let missing =
        TenantTree::load(&dir.path().join("nowhere")).expect_err("a missing directory fails");
    assert!(matches!(missing.0[0].kind, ConfigErrorKind::Io(_)));
}

/// The repository's levels: the standard ones and unit nodes.
fn with_levels(mut sources: Vec<Source>) -> Vec<Source> {
    sources.push(Source::new(
        "levels.toml",
        "[[level]]\nname = \"city\"\nname_zh = \"市\"\nname_en = \"City\"\nroot = true\ncode_digits = 6\n\
         [[level]]\nname = \"district\"\nname_zh = \"区县\"\nname_en = \"District\"\nparents = [\"city\"]\ncode_digits = 6\n\
         [[level]]\nname = \"street\"\nname_zh = \"街镇\"\nname_en = \"Street\"\nparents = [\"district\"]\ncode_digits = 9\n\
         [[level]]\nname = \"community\"\nname_zh = \"社区\"\nname_en = \"Community\"\nparents = [\"street\"]\ncode_digits = 12\n\
         [[level]]\nname = \"unit\"\nname_zh = \"单位\"\nname_en = \"Unit\"\nparents = [\"district\", \"street\", \"community\", \"unit\"]\ncode_prefix = \"U-\"\n",
    ));
    sources
}

#[test]
fn levels_from_configuration_take_the_tree_below_the_street_and_off_the_map() {
    let mut sources = with_levels(shanghai());
    sources.push(Source::new(
        "sh/310115005001.toml",
        node(
            "310115005001",
            "community",
            Some("310115005"),
            "first-community",
        ),
    ));
    sources.push(Source::new(
        "sh/u-ljz01.toml",
        node("U-LJZ01", "unit", Some("310115005"), "service-centre"),
    ));
    sources.push(Source::new(
        "sh/u-ljz02.toml",
        node("U-LJZ02", "unit", Some("U-LJZ01"), "window-3"),
    ));
    let tree = TenantTree::from_sources(sources).unwrap();
    let community = tree
        .resolve("shanghai/pudong/lujiazui/first-community")
        .unwrap();
    assert_eq!(
        community.path.as_str(),
        "310000/310115/310115005/310115005001"
    );
    assert_eq!(community.level.as_str(), "community");
    let window = tree
        .resolve("310000/310115/310115005/U-LJZ01/U-LJZ02")
        .unwrap();
    assert_eq!(
        window.slug_path,
        "shanghai/pudong/lujiazui/service-centre/window-3"
    );
    assert_eq!(tree.level(&window.level).unwrap().name_zh, "单位");
    // A unit's subtree is a contiguous range of paths like any other.
    let unit = tree
        .resolve("shanghai/pudong/lujiazui/service-centre")
        .unwrap();
    assert!(window.path.is_within(&unit.path));
    assert!(!community.path.is_within(&unit.path));
    let (lower, upper) = unit.path.subtree_range();
    assert!(window.path.as_str() > lower && window.path.as_str() < upper.as_str());
}

#[test]
fn a_node_whose_code_does_not_fit_its_configured_level_is_named() {
    let mut sources = with_levels(shanghai());
    // A community needs twelve digits starting with its street's nine; a
    // unit needs its prefix; a unit cannot be a root.
    sources.push(Source::new(
        "sh/c.toml",
        node("310115005", "community", Some("310115005"), "c"),
    ));
    sources.push(Source::new(
        "sh/d.toml",
        node("310104001001", "community", Some("310115005"), "d"),
    ));
    sources.push(Source::new(
        "sh/u.toml",
        node("310115005777", "unit", Some("310115005"), "u"),
    ));
    sources.push(Source::new("sh/v.toml", node("U-ROOT", "unit", None, "v")));
    sources.push(Source::new(
        "sh/w.toml",
        node("310115005002", "hamlet", Some("310115005"), "w"),
    ));
    let errors = errors_of(sources);
    let of = |file: &str| -> Vec<&ConfigErrorKind> {
        errors
            .iter()
            .filter(|e| e.file == std::path::Path::new(file))
            .map(|e| &e.kind)
            .collect()
    };
    assert!(
        matches!(of("sh/c.toml")[0], ConfigErrorKind::CodeLevelMismatch { expected, .. } if expected.contains("12")),
        "{errors}"
    );
    assert!(
        matches!(
            of("sh/d.toml")[..],
            [ConfigErrorKind::CodePrefixMismatch { .. }]
        ),
        "{errors}"
    );
    assert!(
        matches!(of("sh/u.toml")[..], [ConfigErrorKind::CodeLevelMismatch { expected, .. }] if expected.contains("U-")),
        "{errors}"
    );
    assert!(
        matches!(of("sh/v.toml")[..], [ConfigErrorKind::LevelMismatch { parent_level, .. }] if parent_level == "root"),
        "{errors}"
    );
    assert_eq!(
        of("sh/w.toml"),
        [&ConfigErrorKind::UnknownLevel("hamlet".into())],
        "{errors}"
    );
}

#[test]
fn a_line_alias_that_names_another_line_is_refused() {
    let mut sources = shanghai();
    sources[0] = Source::new(
        "lines.toml",
        "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\naliases = [\"人社\"]\n\
         [[line]]\ncode = \"hr-social-security\"\nname = \"人力资源和社会保障\"\nname_en = \"HR\"\naliases = [\"人社\"]\n",
    );
    let errors = errors_of(sources);
    assert!(
        errors.iter().any(
            |e| matches!(&e.kind, ConfigErrorKind::DuplicateLine(name) if name.starts_with("人社"))
        ),
        "{errors}"
    );
}
