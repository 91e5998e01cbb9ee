//! The analyzer contract as recall: the same fixture queries find the same
//! documents on both backends — Chinese words, names, phrases, pinyin and
//! initials, case numbers, credit codes, usernames, full-width input.

mod common;

use civitas_search::{Analyzer, Change, Document, Kind, Query, Reach, ReachEntry, pinyin_keys};
use civitas_tenancy::TenantPath;

fn path(p: &str) -> TenantPath {
    TenantPath::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn doc(id: &str, kind: Kind, title: &str, body: &[&str], keywords: &[&str]) -> Document {
    Document {
        id: id.to_owned(),
        kind,
        tenant: path("310000/310115/310115005"),
        line: "civil-affairs".to_owned(),
        title: title.to_owned(),
        body: body.iter().map(|s| (*s).to_owned()).collect(),
        keywords: keywords.iter().map(|s| (*s).to_owned()).collect(),
        status: Some("submitted".to_owned()),
        service: None,
        owner: None,
        public: false,
        date: 1_780_000_000,
    }
}

fn fixtures() -> Vec<Document> {
    let service_name = "社区长者食堂助餐补贴";
    let mut service = doc(
        "service:meal",
        Kind::Service,
        service_name,
        &["Community canteen meal subsidy"],
        &[],
    );
    service.keywords = pinyin_keys(service_name, &Analyzer::shared());
    service.public = true;
    vec![
        doc(
            "case:1",
            Kind::Case,
            "社区长者食堂助餐补贴申请",
            &["申请人 张伟", "家住陆家嘴街道，独居，每日在长者食堂用餐"],
            &["C-2026-000123"],
        ),
        doc(
            "case:2",
            Kind::Case,
            "行政处罚案件：某超市销售过期食品",
            &[
                "当事人 上海某某超市有限公司",
                "统一社会信用代码 91310115MA1H7GXK5P",
            ],
            &["C-2026-000456"],
        ),
        doc(
            "case:3",
            Kind::Case,
            "建设工程项目欠薪线索",
            &["农民工工资拖欠三个月，涉及四十人"],
            &["C-2026-000789"],
        ),
        doc("account:wang", Kind::Account, "王芳", &[], &["wang.fang"]),
        doc("resident:1", Kind::Resident, "欧阳娜娜", &[], &[]),
        service,
    ]
}

fn everyone() -> Reach {
    let root = path("310000");
    Reach::new(Kind::ALL.into_iter().map(|kind| ReachEntry::Subtree {
        kind,
        root: root.clone(),
        line: "*".to_owned(),
    }))
}

/// (query, the documents it must find — and only those).
const FIXTURES: &[(&str, &[&str])] = &[
    ("助餐补贴", &["case:1", "service:meal"]),
    ("助餐", &["case:1", "service:meal"]),
    ("长者食堂", &["case:1", "service:meal"]),
    ("\"长者食堂\"", &["case:1", "service:meal"]),
    ("张伟", &["case:1"]),
    ("陆家嘴", &["case:1"]),
    ("zcbt", &["service:meal"]),
    ("ＺＣＢＴ", &["service:meal"]),
    ("zhucanbutie", &["service:meal"]),
    ("C-2026-000123", &["case:1"]),
    ("2026-000456", &["case:2"]),
    ("过期食品", &["case:2"]),
    ("91310115MA1H7GXK5P", &["case:2"]),
    ("91310115ma1h7gxk5p", &["case:2"]),
    ("wang.fang", &["account:wang"]),
    ("王芳", &["account:wang"]),
    ("欧阳娜娜", &["resident:1"]),
    ("欠薪", &["case:3"]),
    ("农民工 工资", &["case:3"]),
    ("张伟 过期食品", &[]),
    ("\"食堂长者\"", &[]),
    // Phrases: a code's parts, words within a sentence, three words, across
    // a comma.
    ("\"2026-000123\"", &["case:1"]),
    ("\"陆家嘴街道\"", &["case:1"]),
    ("\"每日在长者食堂用餐\"", &["case:1"]),
    ("\"街道独居\"", &["case:1"]),
];

#[tokio::test]
async fn fixture_queries_find_the_same_documents_on_every_backend() {
    for engine in common::engines().await {
        let changes = fixtures()
            .into_iter()
            .map(|d| Change::Upsert(Box::new(d)))
            .collect();
        engine
            .apply(changes)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", engine.backend()));
        for (text, expected) in FIXTURES {
            let query = Query {
                text: (*text).to_owned(),
                ..Query::default()
            };
            let results = engine
                .search(&everyone(), &query)
                .await
                .unwrap_or_else(|e| panic!("{} {text}: {e}", engine.backend()));
            let mut found: Vec<&str> = results.hits.iter().map(|h| h.id.as_str()).collect();
            found.sort_unstable();
            assert_eq!(
                found,
                *expected,
                "{} found this for {text:?}",
                engine.backend()
            );
            assert_eq!(
                results.total,
                expected.len() as u64,
                "{} total for {text:?}",
                engine.backend()
            );
        }
    }
}

#[tokio::test]
async fn hits_carry_highlights_facets_and_filters_on_every_backend() {
    for engine in common::engines().await {
        let backend = engine.backend();
        engine
            .apply(
                fixtures()
                    .into_iter()
                    .map(|d| Change::Upsert(Box::new(d)))
                    .collect(),
            )
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let query = Query {
            text: "张伟".into(),
            ..Query::default()
        };
        let results = engine
            .search(&everyone(), &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let hit = &results.hits[0];
        let body = hit
            .highlights
            .iter()
            .find(|h| h.field == "body")
            .unwrap_or_else(|| panic!("{backend}: {hit:?}"));
        let [start, end] = body.ranges[0];
        let marked: String = body.text.chars().skip(start).take(end - start).collect();
        assert_eq!(marked, "张伟", "{backend}");

        // Facets count every match, by status and by place below the parent.
        let query = Query {
            text: String::new(),
            kinds: vec![Kind::Case],
            facet_parent: Some(path("310000")),
            ..Query::default()
        };
        let results = engine
            .search(&everyone(), &query)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(results.total, 3, "{backend}");
        assert_eq!(
            results.facets.status.get("submitted"),
            Some(&3),
            "{backend}"
        );
        assert_eq!(
            results.facets.places.get("310000/310115"),
            Some(&3),
            "{backend}: {:?}",
            results.facets
        );

        // Filters: line, status, date, within.
        for (query, expected) in [
            (
                Query {
                    line: Some("market-regulation".into()),
                    ..Query::default()
                },
                0,
            ),
            (
                Query {
                    status: Some("submitted".into()),
                    kinds: vec![Kind::Case],
                    ..Query::default()
                },
                3,
            ),
            (
                Query {
                    from: Some(1_780_000_001),
                    ..Query::default()
                },
                0,
            ),
            (
                Query {
                    to: Some(1_780_000_001),
                    ..Query::default()
                },
                6,
            ),
            (
                Query {
                    within: Some(path("310000/310104")),
                    ..Query::default()
                },
                0,
            ),
            (
                Query {
                    within: Some(path("310000/310115")),
                    ..Query::default()
                },
                6,
            ),
        ] {
            let results = engine
                .search(&everyone(), &query)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(results.total, expected, "{backend}: {query:?}");
        }

        // Deleting a document removes it; applying twice changes nothing.
        engine
            .apply(vec![
                Change::Delete("case:1".into()),
                Change::Delete("case:1".into()),
            ])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        engine
            .apply(
                fixtures()
                    .into_iter()
                    .skip(1)
                    .map(|d| Change::Upsert(Box::new(d)))
                    .collect(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let counts = engine.counts().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts.total, 5, "{backend}");
        assert_eq!(counts.by_kind.get("case"), Some(&2), "{backend}");
    }
}

/// A query of phrases only has nothing to rank by — every hit contains each
/// phrase exactly — so it comes newest first, as a query without text does,
/// whether or not every match is counted, page by page; the order the
/// documents were indexed in does not matter.
#[tokio::test]
async fn phrases_alone_come_newest_first_on_every_backend() {
    // Dates out of the order of indexing; one document without the phrase.
    let dates = [5, 1, 9, 3, 7, 2, 8, 4, 6];
    let mut documents: Vec<Document> = dates
        .iter()
        .map(|d| {
            let mut doc = doc(
                &format!("case:{d}"),
                Kind::Case,
                "助餐补贴申请",
                &["家住陆家嘴街道，每日在长者食堂用餐"],
                &[],
            );
            doc.date = 1_780_000_000 + d * 86_400;
            doc
        })
        .collect();
    let mut other = doc("case:other", Kind::Case, "食堂长者", &["无关"], &[]);
    other.date = 1_790_000_000;
    documents.push(other);
    for engine in common::engines().await {
        let backend = engine.backend();
        // Indexed in three batches, so tantivy holds several segments.
        for batch in documents.chunks(4) {
            engine
                .apply(
                    batch
                        .iter()
                        .map(|d| Change::Upsert(Box::new(d.clone())))
                        .collect(),
                )
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
        for exhaustive in [true, false] {
            let mut pages = Vec::new();
            for offset in [0, 4, 8] {
                let query = Query {
                    text: "\"长者食堂\"".into(),
                    offset,
                    limit: 4,
                    exhaustive,
                    ..Query::default()
                };
                let results = engine
                    .search(&everyone(), &query)
                    .await
                    .unwrap_or_else(|e| panic!("{backend}: {e}"));
                pages.extend(results.hits.into_iter().map(|h| h.id));
            }
            assert_eq!(
                pages,
                [9, 8, 7, 6, 5, 4, 3, 2, 1].map(|d| format!("case:{d}")),
                "{backend}, counting every match: {exhaustive}"
            );
        }
    }
}
