//! Authorization inside the query, as a property: for random grants,
//! documents and queries, on both backends, every hit is a document whose
//! own `GET` the caller would be allowed (`Authorizer::allows`, the index
//! that decides requests), and every such document that matches is counted
//! — 10,000 cases per backend.

mod common;

use std::collections::BTreeSet;

use civitas_authz::{Authorizer, BASE_POLICY, Grant, Permissions};
use civitas_search::{Change, Document, Engine, Kind, Query, Reach};
use civitas_search_indexer::reach::read_action;
use civitas_search_indexer::{applicant_reach, staff_reach};
use civitas_tenancy::TenantPath;

const CASES: usize = 10_000;
const DOCUMENTS: usize = 300;
const TENANTS: &[&str] = &[
    "310000",
    "310000/310115",
    "310000/310115/310115005",
    "310000/310115/310115007",
    "310000/310104",
    "310000/310104/310104003",
    "510000",
    "510000/510100",
];
const LINES: &[&str] = &["civil-affairs", "market-regulation", "hr-social-security"];
const GRANT_LINES: &[&str] = &[
    "civil-affairs",
    "market-regulation",
    "hr-social-security",
    "*",
    "-",
];
const ROLES: &[&str] = &[
    "officer",
    "reviewer",
    "sys-admin",
    "sec-admin",
    "audit-admin",
    "developer",
];
const WORDS: &[&str] = &[
    "补贴", "申请", "街道", "医疗", "养老", "工资", "企业", "处罚", "食品", "住房",
];
const STATUSES: &[&str] = &["submitted", "approved", "rejected"];
const APPLICANTS: &[&str] = &["citizen-1", "citizen-2", "citizen-3"];

/// splitmix64: small, seeded, good enough to explore.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn path(p: &str) -> TenantPath {
    TenantPath::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

struct Corpus {
    documents: Vec<(Document, BTreeSet<&'static str>)>,
}

fn corpus(rng: &mut Rng) -> Corpus {
    let mut documents = Vec::new();
    for i in 0..DOCUMENTS {
        let kind = Kind::ALL[rng.below(4)];
        let tenant = match kind {
            // Services are published at roots.
            Kind::Service => path(rng.pick(&["310000", "510000"])),
            _ => path(rng.pick(TENANTS)),
        };
        let line = match kind {
            Kind::Case | Kind::Service => rng.pick(LINES).to_owned(),
            Kind::Account | Kind::Resident => "-".to_owned(),
        };
        let words: BTreeSet<&'static str> =
            (0..1 + rng.below(3)).map(|_| rng.pick(WORDS)).collect();
        let mut ordered: Vec<&str> = words.iter().copied().collect();
        let title = ordered.remove(0).to_owned();
        documents.push((
            Document {
                id: format!("{}:{i}", kind.as_str()),
                kind,
                tenant,
                line,
                title,
                body: vec![ordered.join("，")],
                keywords: Vec::new(),
                status: Some(rng.pick(STATUSES).to_owned()),
                service: None,
                owner: (kind == Kind::Case && rng.chance(50))
                    .then(|| rng.pick(APPLICANTS).to_owned()),
                public: kind == Kind::Service,
                date: 1_780_000_000 + rng.below(1000) as i64,
            },
            words,
        ));
    }
    Corpus { documents }
}

enum Caller {
    Staff(Authorizer),
    Applicant(&'static str),
}

fn allowed(caller: &Caller, d: &Document) -> bool {
    match (caller, d.kind) {
        (_, Kind::Service) => d.public,
        (Caller::Applicant(me), Kind::Case) => d.owner.as_deref() == Some(*me),
        (Caller::Applicant(_), _) => false,
        (Caller::Staff(a), Kind::Resident) => {
            // A resident is read with resident.read in any line.
            GRANT_LINES
                .iter()
                .filter(|l| **l != "*")
                .any(|l| a.allows("staff", &d.tenant, l, "resident.read"))
        }
        (Caller::Staff(a), kind) => {
            read_action(kind).is_some_and(|action| a.allows("staff", &d.tenant, &d.line, action))
        }
    }
}

/// Puts `corpus` in `engine`.
async fn index(engine: &Engine, corpus: &Corpus) {
    let changes = corpus
        .documents
        .iter()
        .map(|(d, _)| Change::Upsert(Box::new(d.clone())))
        .collect();
    engine
        .apply(changes)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", engine.backend()));
}

async fn check_backend(engine: &Engine, seed: u64) {
    let backend = engine.backend();
    let permissions = Permissions::parse(BASE_POLICY).unwrap_or_else(|e| panic!("{e}"));
    let roots = [path("310000"), path("510000")];
    let mut rng = Rng(seed);
    let mut corpus_now = corpus(&mut rng);
    index(engine, &corpus_now).await;
    let mut hits_seen = 0u64;
    for case in 0..CASES {
        if case > 0 && case % 2_500 == 0 {
            // A new corpus now and then, replacing the old one.
            engine.clear(None).await.unwrap_or_else(|e| panic!("{e}"));
            corpus_now = corpus(&mut rng);
            index(engine, &corpus_now).await;
        }
        let caller = if rng.chance(80) {
            let grants: Vec<Grant> = (0..rng.below(4))
                .map(|_| Grant {
                    account: "staff".into(),
                    tenant: path(rng.pick(TENANTS)),
                    line: rng.pick(GRANT_LINES).into(),
                    role: rng.pick(ROLES).into(),
                })
                .collect();
            Caller::Staff(Authorizer::new(permissions.clone(), grants))
        } else {
            Caller::Applicant(rng.pick(APPLICANTS))
        };
        let reach: Reach = match &caller {
            Caller::Staff(a) => staff_reach(a, "staff", &roots),
            Caller::Applicant(me) => applicant_reach(me, &roots),
        };
        let word = rng.chance(70).then(|| rng.pick(WORDS));
        let query = Query {
            text: word.unwrap_or("").to_owned(),
            kinds: if rng.chance(50) {
                Vec::new()
            } else {
                vec![Kind::ALL[rng.below(4)]]
            },
            within: rng.chance(30).then(|| path(rng.pick(TENANTS))),
            line: rng.chance(20).then(|| rng.pick(LINES).to_owned()),
            status: rng.chance(20).then(|| rng.pick(STATUSES).to_owned()),
            limit: 100,
            ..Query::default()
        };
        let expected: BTreeSet<&str> = corpus_now
            .documents
            .iter()
            .filter(|(d, words)| {
                allowed(&caller, d)
                    && word.is_none_or(|w| words.contains(w))
                    && (query.kinds.is_empty() || query.kinds.contains(&d.kind))
                    && query.within.as_ref().is_none_or(|w| d.tenant.is_within(w))
                    && query.line.as_ref().is_none_or(|l| &d.line == l)
                    && query
                        .status
                        .as_ref()
                        .is_none_or(|s| d.status.as_ref() == Some(s))
            })
            .map(|(d, _)| d.id.as_str())
            .collect();
        let results = engine
            .search(&reach, &query)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        for hit in &results.hits {
            assert!(
                expected.contains(hit.id.as_str()),
                "{backend}, seed {seed}, case {case}: {} is a hit the caller may not read (or does not match)\nreach: {reach:?}\nquery: {query:?}",
                hit.id
            );
        }
        assert_eq!(
            results.total,
            expected.len() as u64,
            "{backend}, seed {seed}, case {case}: {query:?} {reach:?}"
        );
        if expected.len() <= 100 {
            assert_eq!(
                results.hits.len(),
                expected.len(),
                "{backend}, seed {seed}, case {case}"
            );
        }
        hits_seen += results.hits.len() as u64;
    }
    // The property would hold vacuously if nothing were ever found.
    assert!(
        hits_seen > CASES as u64,
        "{backend}: only {hits_seen} hits in {CASES} cases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hit_is_a_document_the_caller_may_not_read() {
    let seed = std::env::var("CIVITAS_REACH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2026);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for engine in common::engines(dir.path()).await {
        check_backend(&engine, seed).await;
    }
}
