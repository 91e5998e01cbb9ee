//! Search at scale: Civitas's tantivy backend against stock tantivy +
//! tantivy-jieba and (with `CIVITAS_BENCH_MEILI=1`) the Meilisearch server,
//! in the same run, on the same generated corpus of Chinese case documents
//! (sentences of the five procurement documents, ~240 characters each,
//! spread over Shanghai's districts and streets and five lines).
//!
//! ```sh
//! cargo bench -p civitas-search --bench search                 # 1,000,000 documents
//! CIVITAS_BENCH_DOCS=100000 CIVITAS_BENCH_MEILI=1 cargo bench -p civitas-search --bench search
//! CIVITAS_BENCH_INDEX_RUNS=1 CIVITAS_BENCH_COMMIT_EACH_BATCH=1 cargo bench -p civitas-search --bench search
//! ```
//!
//! Indexing runs take turns with stock (three by default), each until its
//! merges are done; Civitas stages batches of 50,000 documents and commits
//! once, as a rebuild does.
//!
//! Prints one Markdown table per engine: indexing docs/s, index size, and
//! p50/p99 of one word, two words AND, a phrase, and a word within a
//! district's subtree and line under an officer's authorization filter.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use civitas_search::{
    Analyzer, Change, Document, Engine, Kind, MeiliConfig, MeiliIndex, Query, Reach, ReachEntry,
    TantivyIndex,
};
use civitas_tenancy::TenantPath;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, TermQuery};
use tantivy::schema::{
    FAST, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, Order, TantivyDocument, Term};

const LINES: [&str; 5] = [
    "civil-affairs",
    "hr-social-security",
    "housing",
    "market-regulation",
    "public-security",
];
const QUERIES: usize = 2_000;

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
}

fn sentences() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mission/seeds");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        for s in text.split(['。', '；', '！', '？', '\n']) {
            let s = s.trim();
            if s.chars()
                .filter(|c| civitas_search::analyzer::is_han(*c))
                .count()
                >= 10
            {
                out.push(s.to_owned());
            }
        }
    }
    out
}

struct Case {
    id: String,
    tenant: TenantPath,
    line: &'static str,
    title: String,
    body: String,
    /// Created at (Unix seconds): cases arrive every 30 s on average and are
    /// indexed up to an hour out of order.
    date: i64,
}

fn tenants() -> Vec<TenantPath> {
    let mut out = Vec::new();
    for d in 0..16 {
        let district = format!("3101{:02}", d + 1);
        for s in 0..13 {
            out.push(
                TenantPath::parse(&format!("310000/{district}/{district}{:03}", s + 1)).unwrap(),
            );
        }
    }
    out
}

fn corpus(n: usize) -> Vec<Case> {
    let sentences = sentences();
    let tenants = tenants();
    let mut rng = Rng(2026);
    let mut dates = Rng(99);
    (0..n)
        .map(|i| {
            let mut body = String::new();
            while body.chars().count() < 240 {
                body.push_str(&sentences[rng.below(sentences.len())]);
                body.push('。');
            }
            let body: String = body.chars().take(240).collect();
            let title: String = sentences[rng.below(sentences.len())]
                .chars()
                .take(24)
                .collect();
            Case {
                id: format!("case:{i:08}"),
                tenant: tenants[rng.below(tenants.len())].clone(),
                line: LINES[rng.below(LINES.len())],
                title,
                body,
                date: 1_780_000_000 + i as i64 * 30 + dates.below(3_600) as i64,
            }
        })
        .collect()
}

fn document(c: &Case) -> Document {
    Document {
        id: c.id.clone(),
        kind: Kind::Case,
        tenant: c.tenant.clone(),
        line: c.line.to_owned(),
        title: c.title.clone(),
        body: vec![c.body.clone()],
        keywords: Vec::new(),
        status: Some("open".into()),
        service: Some("civil-affairs/meal-subsidy".into()),
        owner: None,
        public: false,
        date: c.date,
    }
}

#[derive(Clone)]
enum Kindq {
    One(String),
    And(String, String),
    Phrase(String),
    Filtered(String, TenantPath, &'static str),
}

fn queries(corpus: &[Case]) -> Vec<(&'static str, Vec<Kindq>)> {
    let analyzer = Analyzer::shared();
    let mut rng = Rng(7);
    let mut one = Vec::new();
    let mut and = Vec::new();
    let mut phrase = Vec::new();
    let mut filtered = Vec::new();
    while one.len() < QUERIES {
        let c = &corpus[rng.below(corpus.len())];
        let words: Vec<String> = analyzer
            .query_terms(&c.body)
            .into_iter()
            .map(|t| t.text)
            .filter(|t| t.chars().count() >= 2)
            .collect();
        if words.len() < 4 {
            continue;
        }
        let a = words[rng.below(words.len())].clone();
        let b = words[rng.below(words.len())].clone();
        let at = rng.below(words.len() - 2);
        one.push(Kindq::One(a.clone()));
        and.push(Kindq::And(a.clone(), b));
        phrase.push(Kindq::Phrase(words[at..at + 2].concat()));
        let district = c.tenant.parent().unwrap();
        filtered.push(Kindq::Filtered(a, district, c.line));
    }
    vec![
        ("one word", one),
        ("two words AND", and),
        ("phrase (2 words)", phrase),
        ("word + subtree + line (authorization filter)", filtered),
    ]
}

fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
    times[i].as_secs_f64() * 1000.0
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// MiB per file extension (postings, positions, terms, store…).
fn by_extension(path: &Path) -> String {
    let mut sizes = std::collections::BTreeMap::<String, u64>::new();
    for e in std::fs::read_dir(path).unwrap().filter_map(Result::ok) {
        let p = e.path();
        let ext = p
            .extension()
            .map_or("-".into(), |x| x.to_string_lossy().into_owned());
        *sizes.entry(ext).or_default() += e.metadata().map_or(0, |m| m.len());
    }
    sizes
        .iter()
        .filter(|&(_, &b)| b > 1 << 20)
        .map(|(ext, b)| format!("{ext} {:.0} MiB", *b as f64 / 1048576.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stock setup FACTS.md measured: tantivy-jieba on title and body,
/// ancestors and line as exact fields, filters as scored clauses.
struct Stock {
    index: Index,
    reader: tantivy::IndexReader,
    title: tantivy::schema::Field,
    body: tantivy::schema::Field,
    places: tantivy::schema::Field,
    line: tantivy::schema::Field,
    id: tantivy::schema::Field,
}

fn stock_build(dir: &Path, corpus: &[Case]) -> (Stock, Duration) {
    let mut b = Schema::builder();
    let jieba = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("jieba")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let id = b.add_text_field("id", STRING | STORED);
    let title = b.add_text_field("title", jieba.clone());
    let body = b.add_text_field("body", jieba);
    let places = b.add_text_field("places", STRING);
    let line = b.add_text_field("line", STRING);
    let date = b.add_i64_field("date", INDEXED | FAST);
    let index = Index::create_in_dir(dir, b.build()).unwrap();
    index
        .tokenizers()
        .register("jieba", tantivy_jieba::JiebaTokenizer::new());
    let started = Instant::now();
    let mut writer: tantivy::IndexWriter = index.writer(256 * 1024 * 1024).unwrap();
    for c in corpus {
        let mut doc = TantivyDocument::default();
        doc.add_text(id, &c.id);
        doc.add_text(title, &c.title);
        doc.add_text(body, &c.body);
        for p in c.tenant.lineage() {
            doc.add_text(places, p.as_str());
        }
        doc.add_text(line, c.line);
        doc.add_i64(date, c.date);
        writer.add_document(doc).unwrap();
    }
    writer.commit().unwrap();
    writer.wait_merging_threads().unwrap();
    let elapsed = started.elapsed();
    let reader = index.reader().unwrap();
    (
        Stock {
            index,
            reader,
            title,
            body,
            places,
            line,
            id,
        },
        elapsed,
    )
}

/// The stored ids of stock's hits (what Civitas's hits carry, and more).
fn stock_ids<T>(
    stock: &Stock,
    searcher: &tantivy::Searcher,
    top: &[(T, tantivy::DocAddress)],
) -> Vec<Option<String>> {
    top.iter()
        .map(|(_, a)| {
            let d: TantivyDocument = searcher.doc(*a).unwrap();
            d.get_first(stock.id)
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .collect()
}

fn stock_query(s: &Stock, q: &Kindq) -> Box<dyn tantivy::query::Query> {
    let mut tokenizer = s.index.tokenizers().get("jieba").unwrap();
    let mut terms = |text: &str| -> Vec<String> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    };
    let word = |w: &str| -> Box<dyn tantivy::query::Query> {
        Box::new(BooleanQuery::new(
            [s.title, s.body]
                .into_iter()
                .map(|f| {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f, w),
                            IndexRecordOption::WithFreqs,
                        )) as Box<dyn tantivy::query::Query>,
                    )
                })
                .collect(),
        ))
    };
    match q {
        Kindq::One(w) => word(w),
        Kindq::And(a, b) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, word(a)),
            (Occur::Must, word(b)),
        ])),
        Kindq::Phrase(p) => {
            let t = terms(p);
            if t.len() < 2 {
                return word(p);
            }
            Box::new(PhraseQuery::new(
                t.iter().map(|t| Term::from_field_text(s.body, t)).collect(),
            ))
        }
        Kindq::Filtered(w, district, line) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, word(w)),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(s.places, district.as_str()),
                    IndexRecordOption::Basic,
                )),
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(s.line, line),
                    IndexRecordOption::Basic,
                )),
            ),
        ])),
    }
}

fn ours_query(q: &Kindq, exhaustive: bool) -> (Reach, Query) {
    let city = TenantPath::parse("310000").unwrap();
    let everything = Reach::new([ReachEntry::Subtree {
        kind: Kind::Case,
        root: city,
        line: "*".into(),
    }]);
    let base = Query {
        limit: 20,
        exhaustive,
        highlight: false,
        kinds: vec![Kind::Case],
        ..Query::default()
    };
    match q {
        Kindq::One(w) => (
            everything,
            Query {
                text: w.clone(),
                ..base
            },
        ),
        Kindq::And(a, b) => (
            everything,
            Query {
                text: format!("{a} {b}"),
                ..base
            },
        ),
        Kindq::Phrase(p) => (
            everything,
            Query {
                text: format!("\"{p}\""),
                ..base
            },
        ),
        // An officer granted on the district in one line: the reach is the
        // filter, no extra clause.
        Kindq::Filtered(w, district, line) => (
            Reach::new([ReachEntry::Subtree {
                kind: Kind::Case,
                root: district.clone(),
                line: (*line).to_owned(),
            }]),
            Query {
                text: w.clone(),
                ..base
            },
        ),
    }
}

/// Resident memory of a process (kB), from /proc.
fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn row(name: &str, times: &mut [Duration]) {
    println!(
        "| {name} | {:.2} ms | {:.2} ms |",
        percentile(times, 0.5),
        percentile(times, 0.99)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("CIVITAS_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let with_meili = std::env::var("CIVITAS_BENCH_MEILI").is_ok_and(|v| v == "1");
    eprintln!("generating {n} documents…");
    let corpus = corpus(n);
    let corpus_bytes: usize = corpus.iter().map(|c| c.title.len() + c.body.len()).sum();
    let queries = queries(&corpus);
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "{n} documents, corpus {:.0} MiB (title + body, UTF-8)\n",
        corpus_bytes as f64 / 1048576.0
    );

    // The doc store's zstd per 16 KiB block of this corpus, level 1 as the
    // index writes it: the bulk calls (the vendored crate: a context per
    // thread, reused) against a context made for each block (what the
    // published crate's bulk calls do; search/vendor/zstd/CIVITAS.md).
    {
        let mut block = Vec::with_capacity(16 * 1024);
        for c in &corpus {
            if block.len() >= 16 * 1024 {
                break;
            }
            block.extend_from_slice(c.title.as_bytes());
            block.extend_from_slice(c.body.as_bytes());
        }
        block.truncate(16 * 1024);
        let packed = zstd::bulk::compress(&block, 1).unwrap();
        let mut out = vec![0u8; block.len()];
        let per_block = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..5_000 {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / 5_000.0
        };
        let reused_d = per_block(&mut || {
            zstd::bulk::decompress_to_buffer(&packed, &mut out[..]).unwrap();
        });
        let fresh_d = per_block(&mut || {
            zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(&packed, &mut out[..]))
                .unwrap();
        });
        let mut dest = vec![0u8; zstd::zstd_safe::compress_bound(block.len())];
        let reused_c = per_block(&mut || {
            zstd::bulk::compress_to_buffer(&block, &mut dest[..], 1).unwrap();
        });
        let fresh_c = per_block(&mut || {
            zstd::bulk::Compressor::new(1)
                .and_then(|mut c| c.compress_to_buffer(&block, &mut dest[..]))
                .unwrap();
        });
        println!(
            "zstd per 16 KiB block (level 1): decompress {reused_d:.1} µs with the thread's context, {fresh_d:.1} µs with a context made for it; compress {reused_c:.1} against {fresh_c:.1} µs\n"
        );
    }

    // Analysis alone, on one core: the analyzer contract against
    // tantivy-jieba's tokenizer (search mode, as stock uses it).
    {
        let analyzer = Analyzer::shared();
        let sample = &corpus[..corpus.len().min(100_000)];
        let t = Instant::now();
        let mut terms = 0usize;
        for c in sample {
            terms += analyzer.index_spans(&c.body).spans().len();
        }
        let ours = t.elapsed();
        let mut jieba = tantivy_jieba::JiebaTokenizer::new();
        let t = Instant::now();
        let mut stock_terms = 0usize;
        for c in sample {
            use tantivy::tokenizer::{TokenStream, Tokenizer};
            let mut stream = jieba.token_stream(&c.body);
            while stream.advance() {
                stock_terms += 1;
            }
        }
        let stock = t.elapsed();
        for hmm in [false, true] {
            let jieba = jieba_rs::Jieba::new();
            let t = Instant::now();
            let mut n = 0;
            for c in sample {
                n += jieba.cut_for_search(&c.body, hmm).len();
            }
            println!(
                "jieba-rs cut_for_search alone, hmm {hmm}: {:.0} docs/s ({n} tokens)",
                sample.len() as f64 / t.elapsed().as_secs_f64()
            );
        }
        println!(
            "Analysis of {} bodies, one core: Civitas analyzer {:.0} docs/s ({terms} terms), tantivy-jieba {:.0} docs/s ({stock_terms} terms)\n",
            sample.len(),
            sample.len() as f64 / ours.as_secs_f64(),
            sample.len() as f64 / stock.as_secs_f64()
        );
    }

    // Indexing, Civitas and stock taking turns (the machine's load drifts):
    // each run ends once the index is committed and its merges are done —
    // `settle` for Civitas (what a rebuild ends with), `wait_merging_threads`
    // for stock. The last run's indexes are the ones queried.
    let runs: usize = std::env::var("CIVITAS_BENCH_INDEX_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    // Civitas writes batches of 50,000 as a rebuild does: staged, with one
    // commit at the end (`settle`); `CIVITAS_BENCH_COMMIT_EACH_BATCH=1`
    // commits each batch instead (as applying changes does).
    let commit_each = std::env::var("CIVITAS_BENCH_COMMIT_EACH_BATCH").is_ok_and(|v| v == "1");
    let build_ours = |dir: &Path| {
        let index = TantivyIndex::open(dir).unwrap();
        let started = Instant::now();
        for chunk in corpus.chunks(50_000) {
            let changes = chunk
                .iter()
                .map(|c| Change::Add(Box::new(document(c))))
                .collect();
            if commit_each {
                index.apply_now(changes).unwrap();
            } else {
                index.stage_now(changes).unwrap();
            }
        }
        index.settle_now().unwrap();
        (index, started.elapsed())
    };
    let mut built = Vec::new();
    let mut rss_ours = 0;
    let mut last = None;
    for run in 0..runs {
        eprintln!("indexing, run {} of {runs} (Civitas, then stock)…", run + 1);
        let rss_before = rss_kb("self");
        let ours_dir = tmp.path().join(format!("ours-{run}"));
        let (ours, ours_took) = build_ours(&ours_dir);
        if run == 0 {
            rss_ours = rss_kb("self").saturating_sub(rss_before);
        }
        let stock_dir = tmp.path().join(format!("stock-{run}"));
        std::fs::create_dir_all(&stock_dir).unwrap();
        let (stock, stock_took) = stock_build(&stock_dir, &corpus);
        let sizes = (dir_size(&ours_dir), dir_size(&stock_dir));
        built.push((ours_took, stock_took, sizes));
        if run + 1 == runs {
            last = Some((ours, ours_dir, stock));
        } else {
            drop((ours, stock));
            std::fs::remove_dir_all(&ours_dir).unwrap();
            std::fs::remove_dir_all(&stock_dir).unwrap();
        }
    }
    let (ours, ours_dir, stock) = last.unwrap();

    println!(
        "| indexing run | Civitas docs/s | index size | size / corpus | stock docs/s | index size | size / corpus | Civitas / stock |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mib = |b: u64| b as f64 / 1048576.0;
    let mut ratios = Vec::new();
    for (run, (ours_took, stock_took, (ours_size, stock_size))) in built.iter().enumerate() {
        let (a, b) = (
            n as f64 / ours_took.as_secs_f64(),
            n as f64 / stock_took.as_secs_f64(),
        );
        ratios.push(a / b);
        println!(
            "| {} | {a:.0} | {:.0} MiB | {:.2}× | {b:.0} | {:.0} MiB | {:.2}× | {:.2}× |",
            run + 1,
            mib(*ours_size),
            *ours_size as f64 / corpus_bytes as f64,
            mib(*stock_size),
            *stock_size as f64 / corpus_bytes as f64,
            a / b
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nMedian Civitas / stock indexing: {:.2}× over {runs} runs",
        ratios[ratios.len() / 2]
    );
    // Write to visible: one change applied and searchable.
    let mut visible = Vec::new();
    for (i, case) in corpus.iter().take(50).enumerate() {
        let mut d = document(case);
        d.title = format!("可见性测试{i}");
        let t = Instant::now();
        ours.apply_now(vec![Change::Upsert(Box::new(d))]).unwrap();
        visible.push(t.elapsed());
    }
    println!("\nCivitas index by file kind: {}", by_extension(&ours_dir));
    println!(
        "\nResident memory added by building the Civitas index in process: {:.0} MiB (the corpus itself is held by the benchmark)",
        rss_ours as f64 / 1024.0
    );
    println!(
        "\nWrite to visible (Civitas, one change applied, committed and searchable): p50 {:.1} ms, p99 {:.1} ms (the indexer polls the outbox every 200 ms on top)\n",
        percentile(&mut visible, 0.5),
        percentile(&mut visible, 0.99)
    );

    println!("| query (top 20, one core) | p50 | p99 |");
    println!("| --- | --- | --- |");
    let searcher = stock.reader.searcher();
    let mut slowest_phrases = Vec::new();
    for (name, qs) in &queries {
        let mut ours_top = Vec::new();
        let mut ours_full = Vec::new();
        let mut stock_times = Vec::new();
        let mut stock_newest = Vec::new();
        for q in qs {
            let (reach, query) = ours_query(q, false);
            let t = Instant::now();
            let r = ours.search_now(&reach, &query).unwrap();
            ours_top.push(t.elapsed());
            std::hint::black_box(r);
            if matches!(q, Kindq::Phrase(_)) {
                slowest_phrases.push((t.elapsed(), q.clone()));
            }
            let (reach, query) = ours_query(q, true);
            let t = Instant::now();
            let r = ours.search_now(&reach, &query).unwrap();
            ours_full.push(t.elapsed());
            std::hint::black_box(r);
            let sq = stock_query(&stock, q);
            let t = Instant::now();
            let top = searcher
                .search(&sq, &TopDocs::with_limit(20).order_by_score())
                .unwrap();
            std::hint::black_box(stock_ids(&stock, &searcher, &top));
            stock_times.push(t.elapsed());
            // A phrase is ordered newest first by Civitas (nothing to rank
            // by): stock tantivy asked for the same order.
            if matches!(q, Kindq::Phrase(_)) {
                let t = Instant::now();
                let top = searcher
                    .search(
                        &sq,
                        &TopDocs::with_limit(20).order_by_fast_field::<i64>("date", Order::Desc),
                    )
                    .unwrap();
                std::hint::black_box(stock_ids(&stock, &searcher, &top));
                stock_newest.push(t.elapsed());
            }
        }
        row(&format!("{name} — Civitas"), &mut ours_top);
        row(
            &format!("{name} — Civitas, with total and facets"),
            &mut ours_full,
        );
        row(&format!("{name} — stock tantivy + jieba"), &mut stock_times);
        if !stock_newest.is_empty() {
            row(
                &format!("{name} — stock tantivy + jieba, newest first"),
                &mut stock_newest,
            );
        }
    }

    // What the phrase tail is made of: its matches and the documents
    // holding both words (every one of which has its positions read).
    slowest_phrases.sort_by_key(|p| std::cmp::Reverse(p.0));
    println!(
        "\n| slowest phrases (Civitas, top 20) | time | documents with both words | matches |"
    );
    println!("| --- | --- | --- | --- |");
    for (took, q) in slowest_phrases.iter().take(10) {
        let (reach, counted) = ours_query(q, true);
        let matches = ours.search_now(&reach, &counted).unwrap().total;
        let words = counted.text.trim_matches('"').to_owned();
        let words: Vec<String> = Analyzer::shared()
            .query_terms(&words)
            .into_iter()
            .map(|t| t.text)
            .collect();
        let both = Query {
            text: words.join(" "),
            ..counted.clone()
        };
        let both = ours.search_now(&reach, &both).unwrap().total;
        println!(
            "| {} | {:.2} ms | {both} | {matches} |",
            counted.text,
            took.as_secs_f64() * 1000.0
        );
    }

    if with_meili {
        let Some(server) = civitas_testkit::meili() else {
            return;
        };
        eprintln!("indexing (Meilisearch)…");
        let meili = MeiliIndex::open(&MeiliConfig {
            url: server.url.clone(),
            key: Some(server.key.clone()),
            index: server.unique_index(),
            public_url: None,
        })
        .await
        .unwrap();
        let engine = Engine::Meili(Box::new(meili));
        let started = Instant::now();
        for chunk in corpus.chunks(20_000) {
            engine
                .apply(
                    chunk
                        .iter()
                        .map(|c| Change::Upsert(Box::new(document(c))))
                        .collect(),
                )
                .await
                .unwrap();
        }
        let took = started.elapsed();
        println!(
            "\nMeilisearch: indexing {:.1} s, {:.0} docs/s\n",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
        println!("| query (top 20, HTTP on loopback) | p50 | p99 |");
        println!("| --- | --- | --- |");
        for (name, qs) in &queries {
            let mut times = Vec::new();
            for q in qs.iter().take(500) {
                let (reach, query) = ours_query(q, false);
                let t = Instant::now();
                let r = engine.search(&reach, &query).await.unwrap();
                times.push(t.elapsed());
                std::hint::black_box(r);
            }
            row(&format!("{name} — Meilisearch"), &mut times);
        }
    }
}
