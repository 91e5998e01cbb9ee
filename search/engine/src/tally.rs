//! Counting every match of a query by status and by place, in one pass
//! that scores nothing.
//!
//! Each document keeps its status and its tenant's path as single-valued
//! columns (fast fields) of strings: per segment, a match is one read of
//! each column's dictionary ordinal and two increments of a small array
//! indexed by it. The ordinals become strings once per segment, when it
//! is harvested, and places are grouped by the facet parent's children
//! only then. (tantivy's facet collector reads a multi-valued column per
//! match and per facet: most of a counted query's time.)

use std::collections::BTreeMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query, Scorer};
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader,
};

/// Counts of every match: how many, by status, by tenant path.
#[derive(Debug, Default)]
pub(crate) struct Tallied {
    /// Every match.
    pub total: u64,
    /// Matches by status (documents without one are not counted here).
    pub statuses: BTreeMap<String, u64>,
    /// Matches by their tenant's full path.
    pub tenants: BTreeMap<String, u64>,
}

impl Tallied {
    /// The matches below `parent` (below the root when `None`) by the
    /// parent's child they lie under; matches at `parent` itself or
    /// outside it are not counted.
    pub fn places_below(&self, parent: Option<&str>) -> BTreeMap<String, u64> {
        let mut places = BTreeMap::new();
        for (tenant, n) in &self.tenants {
            let rest = match parent {
                None => tenant.as_str(),
                Some(p) => match tenant.strip_prefix(p).and_then(|r| r.strip_prefix('/')) {
                    Some(rest) => rest,
                    None => continue,
                },
            };
            let depth = rest.find('/').unwrap_or(rest.len());
            let child_end = tenant.len() - rest.len() + depth;
            *places.entry(tenant[..child_end].to_owned()).or_default() += n;
        }
        places
    }
}

/// The collector: counts every match by the `status` and `tenant` columns.
pub(crate) struct Tally {
    /// The status column's field name.
    pub status: &'static str,
    /// The tenant path column's field name.
    pub tenant: &'static str,
}

/// Counts by one column's ordinals in one segment.
struct ByOrdinal {
    column: StrColumn,
    counts: Vec<u64>,
}

impl ByOrdinal {
    fn open(reader: &SegmentReader, field: &str) -> tantivy::Result<Option<ByOrdinal>> {
        Ok(reader.fast_fields().str(field)?.map(|column| ByOrdinal {
            counts: vec![0; column.num_terms()],
            column,
        }))
    }

    fn add(&mut self, doc: DocId) {
        if let Some(n) = self
            .column
            .ords()
            .first(doc)
            .and_then(|ord| self.counts.get_mut(ord as usize))
        {
            *n += 1;
        }
    }

    fn add_block(&mut self, docs: &[DocId], ords: &mut Vec<Option<u64>>) {
        ords.clear();
        ords.resize(docs.len(), None);
        self.column.ords().first_vals(docs, ords);
        for ord in ords.iter().flatten() {
            if let Some(n) = self.counts.get_mut(*ord as usize) {
                *n += 1;
            }
        }
    }

    fn harvest(self, into: &mut BTreeMap<String, u64>) -> tantivy::Result<()> {
        // The ordinals counted, in order, turned into strings in one walk
        // of the dictionary (a lookup per ordinal decodes a block each).
        let (ords, counts): (Vec<u64>, Vec<u64>) = self
            .counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(ord, &n)| (ord as u64, n))
            .unzip();
        let mut counts = counts.into_iter();
        let mut bad = None;
        let complete = self
            .column
            .dictionary()
            .sorted_ords_to_term_cb(&ords, |bytes| {
                let n = counts.next().unwrap_or(0);
                match std::str::from_utf8(bytes) {
                    Ok(text) => *into.entry(text.to_owned()).or_default() += n,
                    Err(e) => bad = Some(e),
                }
            })?;
        // Stored data that does not parse is an error, never skipped.
        let broken = |what: String| Err(tantivy::TantivyError::InternalError(what));
        match bad {
            Some(e) => broken(format!("a column's term is not UTF-8: {e}")),
            None if !complete => broken("a column's ordinal is not in its dictionary".into()),
            None => Ok(()),
        }
    }
}

/// [`Tally`] in one segment.
pub(crate) struct SegmentTally {
    total: u64,
    status: Option<ByOrdinal>,
    tenant: Option<ByOrdinal>,
    /// Ordinals of a block of documents, reused.
    ords: Vec<Option<u64>>,
}

/// What one segment counted.
pub(crate) struct SegmentTallied {
    total: u64,
    status: Option<ByOrdinal>,
    tenant: Option<ByOrdinal>,
}

impl Collector for Tally {
    type Fruit = Tallied;
    type Child = SegmentTally;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTally> {
        Ok(SegmentTally {
            total: 0,
            status: ByOrdinal::open(reader, self.status)?,
            tenant: ByOrdinal::open(reader, self.tenant)?,
            ords: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentTallied>) -> tantivy::Result<Tallied> {
        let mut tallied = Tallied::default();
        for segment in segments {
            tallied.total += segment.total;
            if let Some(status) = segment.status {
                status.harvest(&mut tallied.statuses)?;
            }
            if let Some(tenant) = segment.tenant {
                tenant.harvest(&mut tallied.tenants)?;
            }
        }
        Ok(tallied)
    }
}

impl SegmentCollector for SegmentTally {
    type Fruit = SegmentTallied;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        if let Some(status) = &mut self.status {
            status.add(doc);
        }
        if let Some(tenant) = &mut self.tenant {
            tenant.add(doc);
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        if let Some(status) = &mut self.status {
            status.add_block(docs, &mut self.ords);
        }
        if let Some(tenant) = &mut self.tenant {
            tenant.add_block(docs, &mut self.ords);
        }
    }

    fn harvest(self) -> SegmentTallied {
        SegmentTallied {
            total: self.total,
            status: self.status,
            tenant: self.tenant,
        }
    }
}

/// Counts every match of the conjunction of `clauses` (every document
/// when there are none) with `tally`.
///
/// Where each clause matches a like share of a segment (the most documents
/// a clause matches, summed over clauses, at most [`DENSE`] times the
/// fewest), the clauses are read into bitsets and intersected word by word:
/// decoding a posting list costs a few nanoseconds a document, where
/// tantivy's intersection seeks one list to each document of another (two
/// words in 40 % of a million documents: 10 ms of a counted query's p99).
/// Elsewhere — a rare word or filter among common ones, a single clause,
/// or a phrase (which reads positions: the other clauses must narrow its
/// candidates first) — tantivy's own conjunction runs.
pub(crate) fn tally_conjunction(
    searcher: &Searcher,
    mut clauses: Vec<Box<dyn Query>>,
    tally: &Tally,
) -> tantivy::Result<Tallied> {
    let reads_positions = clauses
        .iter()
        .any(|q| q.downcast_ref::<PhraseQuery>().is_some());
    let as_bitsets = clauses.len() >= 2 && !reads_positions;
    let conjunction: Box<dyn Query> = match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.remove(0),
        _ => Box::new(BooleanQuery::new(
            clauses
                .iter()
                .map(|q| (Occur::Must, q.box_clone()))
                .collect(),
        )),
    };
    if !as_bitsets {
        return searcher.search(conjunction.as_ref(), tally);
    }
    let enable = EnableScoring::disabled_from_searcher(searcher);
    let weights = clauses
        .iter()
        .map(|q| q.weight(enable))
        .collect::<tantivy::Result<Vec<_>>>()?;
    let whole = conjunction.weight(enable)?;
    let mut fruits = Vec::new();
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as SegmentOrdinal;
        let mut scorers = weights
            .iter()
            .map(|w| w.scorer(reader, 1.0))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let hints: Vec<u64> = scorers.iter().map(|s| u64::from(s.size_hint())).collect();
        let fewest = hints.iter().copied().min().unwrap_or(0);
        let dense = hints.iter().sum::<u64>() <= DENSE * fewest;
        if !dense {
            fruits.push(tally.collect_segment(whole.as_ref(), ord, reader)?);
            continue;
        }
        let mut matches = bits_of(scorers[0].as_mut(), reader.max_doc());
        for scorer in &mut scorers[1..] {
            let bits = bits_of(scorer.as_mut(), reader.max_doc());
            for (word, other) in matches.iter_mut().zip(bits) {
                *word &= other;
            }
        }
        let mut child = tally.for_segment(ord, reader)?;
        let alive = reader.alive_bitset();
        let mut block = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
        let mut n = 0;
        for (w, word) in matches.iter().enumerate() {
            let mut word = *word;
            while word != 0 {
                let doc = (w as DocId) * 64 + word.trailing_zeros();
                word &= word - 1;
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                block[n] = doc;
                n += 1;
                if n == block.len() {
                    child.collect_block(&block);
                    n = 0;
                }
            }
        }
        child.collect_block(&block[..n]);
        fruits.push(child.harvest());
    }
    tally.merge_fruits(fruits)
}

/// How unequal the clauses' sizes may be for bitsets to be read (see
/// [`tally_conjunction`]): a posting list decodes in about a tenth of the
/// time a seek into it costs.
const DENSE: u64 = 8;

/// The documents `scorer` matches, as a bitset of `max_doc` bits.
fn bits_of(scorer: &mut dyn Scorer, max_doc: DocId) -> Vec<u64> {
    let mut bits = vec![0u64; (max_doc as usize).div_ceil(64)];
    let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
    loop {
        let n = scorer.fill_buffer(&mut buffer);
        for &doc in &buffer[..n] {
            if let Some(word) = bits.get_mut(doc as usize / 64) {
                *word |= 1 << (doc % 64);
            }
        }
        if n < buffer.len() {
            return bits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Places are counted under the facet parent's children: deeper
    /// tenants add to the child they lie under; the parent itself and
    /// tenants outside it (a sibling whose code starts the same) are not
    /// counted.
    #[test]
    fn places_are_counted_under_the_parents_children() {
        let tallied = Tallied {
            total: 0,
            statuses: BTreeMap::new(),
            tenants: [
                ("310000", 1),
                ("310000/310115", 2),
                ("310000/310115/310115005", 3),
                ("310000/310115/310115007", 4),
                ("310000/310101/310101002", 5),
                ("3100001/310115", 6),
            ]
            .into_iter()
            .map(|(t, n)| (t.to_owned(), n))
            .collect(),
        };
        let by = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
        };
        assert_eq!(
            tallied.places_below(None),
            by(&[("310000", 15), ("3100001", 6)])
        );
        assert_eq!(
            tallied.places_below(Some("310000")),
            by(&[("310000/310101", 5), ("310000/310115", 9)])
        );
        assert_eq!(
            tallied.places_below(Some("310000/310115")),
            by(&[
                ("310000/310115/310115005", 3),
                ("310000/310115/310115007", 4)
            ])
        );
        assert_eq!(
            tallied.places_below(Some("310000/310115/310115005")),
            BTreeMap::new()
        );
    }
}
