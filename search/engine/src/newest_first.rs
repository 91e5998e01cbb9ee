//! The newest matches of a query, stopping as soon as no unread block of
//! documents can hold a better one.
//!
//! tantivy's `TopDocs::order_by_fast_field` visits every match to rank by a
//! field. A page of the newest matches needs far fewer. Each segment has a
//! table of the newest date in each block of [`BLOCK`] documents; the
//! blocks are read newest first (by that date), in batches — sized by the
//! matches the last batch held — of contiguous ranges, and the walk stops
//! once the worst hit of the page is newer than the newest unread block.
//! Documents are added roughly in the order cases are created and a merge
//! concatenates segments, so a segment is a few runs in date order: the
//! newest blocks are few and contiguous. The answer is exactly
//! `TopDocs::order_by_fast_field(date, Desc)`'s — ties by address, lower
//! first — whatever the order of the documents; the order only decides how
//! soon it stops (`tests::agrees_with_top_docs`).

use std::collections::BinaryHeap;

use tantivy::query::{
    BooleanQuery, ConstScorer, EnableScoring, Explanation, Occur, Query, Scorer, Weight,
};
use tantivy::{DocAddress, DocId, DocSet, Searcher, SegmentReader, TERMINATED};

use crate::per_segment::{Derive, PerSegment};

/// Documents per entry of a segment's table of newest dates.
const BLOCK: u32 = 512;

/// Blocks read by the first batch.
const FIRST_BATCH: usize = 8;

/// Unread blocks between two of a batch that are read too, to make one
/// range of them (a range costs a scorer's setup).
const GAP: usize = 4;

/// The newest value of one i64 fast field in each block of each segment
/// (a table per segment: [`PerSegment`]).
pub(crate) type DateMaxima = PerSegment<NewestDates>;

impl DateMaxima {
    /// Maxima of `field`.
    pub(crate) fn of_field(field: &'static str) -> DateMaxima {
        PerSegment::new(NewestDates { field })
    }
}

/// How a segment's table of newest dates is derived: `maxima[b]` is the
/// newest date among documents `b * BLOCK .. (b + 1) * BLOCK` (deleted ones
/// too: a bound only needs to be high enough).
pub(crate) struct NewestDates {
    field: &'static str,
}

impl Derive for NewestDates {
    type Output = Vec<i64>;
    const WHAT: &'static str = "table of newest dates";

    fn derive(&self, reader: &SegmentReader) -> tantivy::Result<Vec<i64>> {
        let column = reader.fast_fields().i64(self.field)?;
        let max_doc = reader.max_doc();
        let mut maxima = Vec::with_capacity(max_doc.div_ceil(BLOCK) as usize);
        let mut docs: Vec<DocId> = Vec::with_capacity(BLOCK as usize);
        let mut values = vec![None; BLOCK as usize];
        let mut from = 0;
        while from < max_doc {
            let to = (from + BLOCK).min(max_doc);
            docs.clear();
            docs.extend(from..to);
            let values = &mut values[..docs.len()];
            // A document without a value leaves its entry as it was.
            values.fill(None);
            column.first_vals(&docs, values);
            let newest = values
                .iter()
                .map(|v| v.unwrap_or(i64::MIN))
                .max()
                .unwrap_or(i64::MIN);
            maxima.push(newest);
            from = to;
        }
        Ok(maxima)
    }
}

/// A match and its rank: the newest date first, then the lower address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ranked {
    date: i64,
    address: DocAddress,
}

impl Ord for Ranked {
    /// Greater is worse, so a max-heap's top is the page's worst.
    fn cmp(&self, other: &Ranked) -> std::cmp::Ordering {
        other
            .date
            .cmp(&self.date)
            .then_with(|| self.address.cmp(&other.address))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Ranked) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The documents of some ranges of ids (ascending, apart): the first
/// clause of a batch's conjunction in one segment.
///
/// tantivy (0.27) creates the scorers of a conjunction in clause order,
/// each starting at the candidate the ones before it reached, and an
/// intersection moves its clauses to each other's next documents; so after
/// this clause a phrase starts at the first range instead of searching the
/// segment from its first document for its first match, and it never looks
/// at the documents between the ranges.
#[derive(Debug, Clone)]
struct DocIds(Vec<(DocId, DocId)>);

impl Query for DocIds {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for DocIds {
    fn scorer(&self, reader: &SegmentReader, boost: f32) -> tantivy::Result<Box<dyn Scorer>> {
        let max_doc = reader.max_doc();
        let ranges: Vec<(DocId, DocId)> = self
            .0
            .iter()
            .map(|&(lo, hi)| (lo, hi.min(max_doc)))
            .filter(|(lo, hi)| lo < hi)
            .collect();
        let doc = ranges.first().map_or(TERMINATED, |r| r.0);
        Ok(Box::new(ConstScorer::new(
            DocIdRanges { ranges, at: 0, doc },
            boost,
        )))
    }

    fn explain(&self, _: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.0.iter().any(|&(lo, hi)| (lo..hi).contains(&doc)) {
            Ok(Explanation::new("in the batch", 1.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} is outside {:?}",
                self.0
            )))
        }
    }
}

/// The ids of `ranges`, from `doc` (in `ranges[at]`) on.
struct DocIdRanges {
    ranges: Vec<(DocId, DocId)>,
    at: usize,
    doc: DocId,
}

impl DocIdRanges {
    /// The first id at or after `target` in range `at` or a later one.
    fn settle_on(&mut self, target: DocId) -> DocId {
        while let Some(&(lo, hi)) = self.ranges.get(self.at) {
            if target < hi {
                self.doc = target.max(lo);
                return self.doc;
            }
            self.at += 1;
        }
        self.doc = TERMINATED;
        self.doc
    }
}

impl DocSet for DocIdRanges {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        self.settle_on(self.doc + 1)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc == TERMINATED || target <= self.doc {
            return self.doc;
        }
        self.settle_on(target)
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.ranges
            .iter()
            .skip(self.at)
            .map(|&(lo, hi)| hi - lo.max(self.doc.min(hi)))
            .sum()
    }
}

/// The `wanted` newest documents matching every query of `conjunction`
/// (all documents when it is empty) by the fast field of `maxima`, newest
/// first (ties: lower address first). A document without a value ranks as
/// the oldest (as `i64::MIN`; tantivy puts it below that, a difference no
/// document of the index can show: every one has a date).
pub(crate) fn newest_first(
    searcher: &Searcher,
    conjunction: &[Box<dyn Query>],
    wanted: usize,
    maxima: &DateMaxima,
) -> Result<Vec<DocAddress>, tantivy::TantivyError> {
    if wanted == 0 {
        return Ok(Vec::new());
    }
    let field = maxima.derivation().field;
    let batch_weight = |ids: Vec<(DocId, DocId)>| {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(conjunction.len() + 1);
        clauses.push((Occur::Must, Box::new(DocIds(ids))));
        clauses.extend(conjunction.iter().map(|q| (Occur::Must, q.box_clone())));
        BooleanQuery::new(clauses).weight(EnableScoring::disabled_from_searcher(searcher))
    };
    let readers = searcher.segment_readers();
    // Every block of every segment, newest first.
    let mut tables = Vec::with_capacity(readers.len());
    let mut blocks: Vec<(i64, u32, u32)> = Vec::new();
    for (ord, reader) in readers.iter().enumerate() {
        let table = maxima.of(reader)?;
        blocks.extend(
            table
                .iter()
                .enumerate()
                .map(|(b, newest)| (*newest, ord as u32, b as u32)),
        );
        tables.push(table);
    }
    blocks.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut read: Vec<Vec<bool>> = tables.iter().map(|t| vec![false; t.len()]).collect();
    let mut columns = Vec::with_capacity(readers.len());
    for reader in readers {
        columns.push(reader.fast_fields().i64(field)?);
    }
    let mut page: BinaryHeap<Ranked> = BinaryHeap::with_capacity(wanted + 1);
    let mut next = 0;
    let mut batch = FIRST_BATCH;
    loop {
        while next < blocks.len() && read[blocks[next].1 as usize][blocks[next].2 as usize] {
            next += 1;
        }
        let Some(&(newest_unread, ord, block)) = blocks.get(next) else {
            break;
        };
        if page.len() == wanted {
            // The best an unread document could be: the newest unread
            // date, in the first unread block of that date (blocks of equal
            // dates are in address order).
            let best_unread = Ranked {
                date: newest_unread,
                address: DocAddress::new(ord, block * BLOCK),
            };
            if page.peek().is_some_and(|worst| *worst < best_unread) {
                break;
            }
        }
        // This batch: the next `batch` unread blocks, newest first, as
        // contiguous ranges per segment.
        let mut chosen: Vec<Vec<u32>> = vec![Vec::new(); readers.len()];
        let mut taken = 0;
        let mut i = next;
        while taken < batch && i < blocks.len() {
            let (_, ord, block) = blocks[i];
            if !read[ord as usize][block as usize] {
                chosen[ord as usize].push(block);
                taken += 1;
            }
            i += 1;
        }
        let mut found = 0usize;
        for (ord, mut picked) in chosen.into_iter().enumerate() {
            if picked.is_empty() {
                continue;
            }
            picked.sort_unstable();
            let reader = &readers[ord];
            let alive = reader.alive_bitset();
            let column = &columns[ord];
            let mut ranges: Vec<(u32, u32)> = Vec::new();
            for block in picked {
                match ranges.last_mut() {
                    // A short gap of blocks not read yet is read too.
                    Some(last)
                        if (block - last.1) as usize <= GAP
                            && read[ord][last.1 as usize..block as usize]
                                .iter()
                                .all(|r| !r) =>
                    {
                        last.1 = block + 1;
                    }
                    _ => ranges.push((block, block + 1)),
                }
            }
            let mut ids = Vec::with_capacity(ranges.len());
            for (from, to) in ranges {
                for b in from..to {
                    read[ord][b as usize] = true;
                }
                ids.push((from * BLOCK, to * BLOCK));
            }
            // One scorer for the batch's ranges of this segment (its setup
            // is what a batch costs).
            let mut scorer = batch_weight(ids)?.scorer(reader, 1.0)?;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    found += 1;
                    let candidate = Ranked {
                        date: column.first(doc).unwrap_or(i64::MIN),
                        address: DocAddress::new(ord as u32, doc),
                    };
                    if page.len() < wanted {
                        page.push(candidate);
                    } else if page.peek().is_some_and(|worst| candidate < *worst) {
                        page.pop();
                        page.push(candidate);
                    }
                }
                doc = scorer.advance();
            }
        }
        // Each batch costs a scorer's setup per segment: while the page is
        // short, the next batch is sized by the matches this one held — eight times
        // as many blocks when it held none.
        let missing = wanted - page.len();
        batch = if missing == 0 {
            batch.saturating_mul(2)
        } else if found == 0 {
            batch.saturating_mul(8)
        } else {
            batch
                .saturating_mul(missing.div_ceil(found))
                .saturating_mul(2)
        };
    }
    Ok(page
        .into_sorted_vec()
        .into_iter()
        .map(|r| r.address)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::TopDocs;
    use tantivy::query::{AllQuery, PhraseQuery, TermQuery};
    use tantivy::schema::{FAST, INDEXED, IndexRecordOption, STRING, Schema, TEXT};
    use tantivy::{Index, IndexWriter, Order, TantivyDocument, Term};

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// The oracle: tantivy's own ranking by a fast field, over every match.
    fn top_docs(
        searcher: &Searcher,
        conjunction: &[Box<dyn Query>],
        wanted: usize,
    ) -> Vec<DocAddress> {
        let query: Box<dyn Query> = if conjunction.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(
                conjunction
                    .iter()
                    .map(|q| (Occur::Must, q.box_clone()))
                    .collect(),
            ))
        };
        searcher
            .search(
                query.as_ref(),
                &TopDocs::with_limit(wanted).order_by_fast_field::<i64>("date", Order::Desc),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|(_, a)| a)
            .collect()
    }

    /// Random indexes — several segments, deletions, dates in order, out
    /// of order and tied, documents without a date — and random
    /// conjunctions of terms and phrases, and page sizes: the early stop
    /// returns exactly what ranking every match returns.
    #[test]
    fn agrees_with_top_docs() {
        let mut b = Schema::builder();
        let id = b.add_u64_field("id", INDEXED);
        let tag = b.add_text_field("tag", STRING);
        let text = b.add_text_field("text", TEXT);
        let date = b.add_i64_field("date", FAST);
        let schema = b.build();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let words = ["aa", "bb", "cc", "dd"];
        for round in 0..30 {
            let index = Index::create_in_ram(schema.clone());
            let mut writer: IndexWriter = index
                .writer_with_num_threads(1, 15_000_000)
                .unwrap_or_else(|e| panic!("{e}"));
            let docs = 1 + rng.below(20_000);
            // How dates follow the order documents are added in.
            let shape = round % 5;
            let segments = 1 + rng.below(4);
            for n in 0..docs {
                let mut doc = TantivyDocument::default();
                doc.add_u64(id, n);
                doc.add_text(tag, ["a", "b", "c"][rng.below(3) as usize]);
                if rng.below(3) == 0 {
                    doc.add_text(tag, "rare");
                }
                let sentence: Vec<&str> = (0..1 + rng.below(6))
                    .map(|_| words[rng.below(4) as usize])
                    .collect();
                doc.add_text(text, sentence.join(" "));
                let value = match shape {
                    0 => Some(n as i64 * 10 + rng.below(30) as i64),
                    1 => Some(rng.below(1_000_000) as i64),
                    2 => Some(rng.below(5) as i64),
                    // Runs in date order, the runs out of order (what
                    // merged segments look like).
                    3 => Some((n % 7) as i64 * 1_000_000 + n as i64),
                    _ => (rng.below(10) != 0).then_some(n as i64),
                };
                if let Some(value) = value {
                    doc.add_i64(date, value);
                }
                writer.add_document(doc).unwrap_or_else(|e| panic!("{e}"));
                if rng.below(docs / segments + 1) == 0 {
                    writer.commit().unwrap_or_else(|e| panic!("{e}"));
                }
            }
            for _ in 0..rng.below(50) {
                writer.delete_term(Term::from_field_u64(id, rng.below(docs)));
            }
            writer.commit().unwrap_or_else(|e| panic!("{e}"));
            let reader = index.reader().unwrap_or_else(|e| panic!("{e}"));
            let searcher = reader.searcher();
            let maxima = DateMaxima::of_field("date");
            let term = |t: &str| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_text(tag, t),
                    IndexRecordOption::Basic,
                ))
            };
            let phrase = |a: &str, b: &str| -> Box<dyn Query> {
                Box::new(PhraseQuery::new(vec![
                    Term::from_field_text(text, a),
                    Term::from_field_text(text, b),
                ]))
            };
            let conjunctions: Vec<Vec<Box<dyn Query>>> = vec![
                vec![],
                vec![term("a")],
                vec![term("rare")],
                vec![term("missing")],
                vec![term("b"), term("rare")],
                vec![phrase("aa", "bb")],
                vec![phrase("dd", "aa"), term("c")],
                vec![term("rare"), phrase("cc", "cc"), phrase("bb", "cc")],
            ];
            for conjunction in &conjunctions {
                for wanted in [1, 20, 1 + rng.below(300) as usize, 5_000] {
                    let expected = top_docs(&searcher, conjunction, wanted);
                    let found = newest_first(&searcher, conjunction, wanted, &maxima)
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(
                        found, expected,
                        "round {round} shape {shape}, {docs} docs, {conjunction:?}, {wanted} wanted"
                    );
                }
            }
        }
    }
}
