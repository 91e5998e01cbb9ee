//! Counting every match of a query by status and by place, in one pass
//! that scores nothing.
//!
//! Each document keeps its status and its tenant's path as single-valued
//! columns (fast fields) of strings. Per segment, both are read once into
//! plain arrays of small numbers (a slot per distinct value), when a
//! searcher holding the segment is made (`per_segment.rs`): a match is then two array reads and
//! two increments, and the slots become strings only when a segment's
//! counts are harvested. (Reading
//! the columns per match decoded a bit-packed value, and for the status,
//! which not every document has, a rank in the column's index: most of a
//! counted query's time. tantivy's facet collector reads a multi-valued
//! column per match and per facet.)

use std::collections::BTreeMap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::query::{
    AllQuery, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query, Scorer, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader, Term,
};

use crate::per_segment::{Derive, PerSegment};

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

/// One column's value of every document of a segment, as slots: `slots[doc]`
/// is 0 for a document without a value, else 1 + the value's index in
/// `values`.
struct Slots {
    slots: Vec<u32>,
    values: Vec<String>,
}

impl Slots {
    /// Reads `field`'s column of `reader` whole (no slots when the segment
    /// has no such column: every document without a value).
    fn read(reader: &SegmentReader, field: &str) -> tantivy::Result<Option<Slots>> {
        let Some(column) = reader.fast_fields().str(field)? else {
            return Ok(None);
        };
        let values = column_values(&column)?;
        if u32::try_from(values.len()).is_err() {
            return Err(tantivy::TantivyError::InternalError(format!(
                "column {field} has {} values, more than its slots hold",
                values.len()
            )));
        }
        let max_doc = reader.max_doc();
        let mut slots = Vec::with_capacity(max_doc as usize);
        let mut docs: Vec<DocId> = Vec::with_capacity(COLLECT_BLOCK_BUFFER_LEN);
        let mut ords = vec![None; COLLECT_BLOCK_BUFFER_LEN];
        let mut from = 0;
        while from < max_doc {
            let to = (from + COLLECT_BLOCK_BUFFER_LEN as DocId).min(max_doc);
            docs.clear();
            docs.extend(from..to);
            let ords = &mut ords[..docs.len()];
            // A document without a value leaves its entry as it was.
            ords.fill(None);
            column.ords().first_vals(&docs, ords);
            for ord in ords.iter() {
                slots.push(match *ord {
                    None => 0,
                    // Checked above: every ordinal below `values.len()` fits.
                    Some(ord) if ord < values.len() as u64 => ord as u32 + 1,
                    Some(ord) => {
                        return Err(tantivy::TantivyError::InternalError(format!(
                            "column {field}: ordinal {ord} is not in its dictionary"
                        )));
                    }
                });
            }
            from = to;
        }
        Ok(Some(Slots { slots, values }))
    }

    /// The slot of `doc` (0: no value).
    fn of(&self, doc: DocId) -> usize {
        self.slots
            .get(doc as usize)
            .map_or(0, |slot| *slot as usize)
    }

    /// Adds `counts[slot]` (slot 0, no value, is not counted) into `into`.
    fn harvest(&self, counts: &[u64], into: &mut BTreeMap<String, u64>) {
        for (value, n) in self.values.iter().zip(counts.iter().skip(1)) {
            if *n > 0 {
                *into.entry(value.clone()).or_default() += n;
            }
        }
    }
}

/// Every value of a string column, in ordinal order.
fn column_values(column: &StrColumn) -> tantivy::Result<Vec<String>> {
    let ords: Vec<u64> = (0..column.num_terms() as u64).collect();
    let mut values = Vec::with_capacity(ords.len());
    let mut bad = None;
    let complete = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
        match std::str::from_utf8(bytes) {
            Ok(text) => values.push(text.to_owned()),
            Err(e) => bad = Some(e),
        }
    })?;
    // Stored data that does not parse is an error, never skipped.
    let broken = |what: String| Err(tantivy::TantivyError::InternalError(what));
    match bad {
        Some(e) => broken(format!("a column's term is not UTF-8: {e}")),
        None if !complete || values.len() != ords.len() => {
            broken("a column's ordinal is not in its dictionary".into())
        }
        None => Ok(values),
    }
}

/// A segment's statuses and tenants as slots.
pub(crate) struct SegmentSlots {
    status: Option<Slots>,
    tenant: Option<Slots>,
}

/// The status and tenant slots of each segment, eight bytes a document
/// ([`PerSegment`]: read when a searcher holding the segment is made).
pub(crate) type TallySlots = PerSegment<StatusAndTenant>;

impl TallySlots {
    /// Slots of the `status` and `tenant` columns.
    pub(crate) fn of_fields(status: &'static str, tenant: &'static str) -> TallySlots {
        PerSegment::new(StatusAndTenant { status, tenant })
    }
}

/// How a segment's slots are derived: its `status` and `tenant` columns
/// read whole.
pub(crate) struct StatusAndTenant {
    status: &'static str,
    tenant: &'static str,
}

impl Derive for StatusAndTenant {
    type Output = SegmentSlots;
    const WHAT: &'static str = "status or tenant column";

    fn derive(&self, reader: &SegmentReader) -> tantivy::Result<SegmentSlots> {
        Ok(SegmentSlots {
            status: Slots::read(reader, self.status)?,
            tenant: Slots::read(reader, self.tenant)?,
        })
    }
}

/// The collector: counts every match by its status and tenant slots.
pub(crate) struct Tally<'a> {
    /// The segments' slots.
    pub slots: &'a TallySlots,
}

/// [`Tally`] in one segment.
pub(crate) struct SegmentTally {
    total: u64,
    slots: Arc<SegmentSlots>,
    statuses: Vec<u64>,
    tenants: Vec<u64>,
}

impl SegmentTally {
    fn add(&mut self, doc: DocId) {
        if let Some(status) = &self.slots.status
            && let Some(n) = self.statuses.get_mut(status.of(doc))
        {
            *n += 1;
        }
        if let Some(tenant) = &self.slots.tenant
            && let Some(n) = self.tenants.get_mut(tenant.of(doc))
        {
            *n += 1;
        }
    }
}

impl Collector for Tally<'_> {
    type Fruit = Tallied;
    type Child = SegmentTally;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTally> {
        let slots = self.slots.of(reader)?;
        let width = |values: Option<&Slots>| values.map_or(0, |s| s.values.len() + 1);
        Ok(SegmentTally {
            total: 0,
            statuses: vec![0; width(slots.status.as_ref())],
            tenants: vec![0; width(slots.tenant.as_ref())],
            slots,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentTally>) -> tantivy::Result<Tallied> {
        let mut tallied = Tallied::default();
        for segment in segments {
            tallied.total += segment.total;
            if let Some(status) = &segment.slots.status {
                status.harvest(&segment.statuses, &mut tallied.statuses);
            }
            if let Some(tenant) = &segment.slots.tenant {
                tenant.harvest(&segment.tenants, &mut tallied.tenants);
            }
        }
        Ok(tallied)
    }
}

impl SegmentCollector for SegmentTally {
    type Fruit = SegmentTally;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        self.add(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len() as u64;
        for &doc in docs {
            self.add(doc);
        }
    }

    fn harvest(self) -> SegmentTally {
        self
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
/// A single term (a word, or a filter alone) is read a block of its posting
/// list at a time. Elsewhere — a rare word or filter among common ones, a
/// single clause of another kind, or a phrase (which reads positions: the
/// other clauses must narrow its candidates first) — tantivy's own
/// conjunction runs.
pub(crate) fn tally_conjunction(
    searcher: &Searcher,
    mut clauses: Vec<Box<dyn Query>>,
    tally: &Tally<'_>,
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
    // One term (a word, or a filter alone): its posting list, a decoded
    // block of document ids at a time, with no scorer in between.
    if let Some(term) = conjunction.downcast_ref::<TermQuery>().map(TermQuery::term)
        && indexed(searcher.schema(), term)
    {
        let mut fruits = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let mut child = tally.for_segment(ord as SegmentOrdinal, reader)?;
            let alive = reader.alive_bitset();
            let mut living = Vec::with_capacity(COLLECT_BLOCK_BUFFER_LEN);
            each_block_of(reader, term, |docs| match alive {
                None => child.collect_block(docs),
                Some(alive) => {
                    living.clear();
                    living.extend(docs.iter().copied().filter(|d| alive.is_alive(*d)));
                    child.collect_block(&living);
                }
            })?;
            fruits.push(child.harvest());
        }
        return tally.merge_fruits(fruits);
    }
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
        let mut matches = bits_of(clauses[0].as_ref(), scorers[0].as_mut(), reader)?;
        for (clause, scorer) in clauses.iter().zip(&mut scorers).skip(1) {
            let bits = bits_of(clause.as_ref(), scorer.as_mut(), reader)?;
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

/// The documents `clause` matches in `reader` (its `scorer` there), as a
/// bitset of the segment's `max_doc` bits: a term's posting list read a
/// block at a time, anything else through its scorer.
fn bits_of(
    clause: &dyn Query,
    scorer: &mut dyn Scorer,
    reader: &SegmentReader,
) -> tantivy::Result<Vec<u64>> {
    let mut bits = vec![0u64; (reader.max_doc() as usize).div_ceil(64)];
    let mut set = |docs: &[DocId]| {
        for &doc in docs {
            if let Some(word) = bits.get_mut(doc as usize / 64) {
                *word |= 1 << (doc % 64);
            }
        }
    };
    if let Some(term) = clause.downcast_ref::<TermQuery>().map(TermQuery::term)
        && indexed(reader.schema(), term)
    {
        each_block_of(reader, term, set)?;
        return Ok(bits);
    }
    let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
    loop {
        let n = scorer.fill_buffer(&mut buffer);
        set(&buffer[..n]);
        if n < buffer.len() {
            return Ok(bits);
        }
    }
}

/// Whether `term`'s field has posting lists: a term query on a field that
/// has none is tantivy's to answer (through a fast field, or an error).
fn indexed(schema: &tantivy::schema::Schema, term: &Term) -> bool {
    schema.get_field_entry(term.field()).is_indexed()
}

/// Calls `each` with every block of `term`'s posting list in `reader`, in
/// order: up to 128 document ids, deleted ones included (the caller decides).
/// tantivy's term scorer hands out a document at a time through the scorer
/// interface; a counted word of 400,000 documents spent most of its count
/// there.
fn each_block_of(
    reader: &SegmentReader,
    term: &Term,
    mut each: impl FnMut(&[DocId]),
) -> tantivy::Result<()> {
    let inverted = reader.inverted_index(term.field())?;
    let Some(mut postings) = inverted.read_block_postings(term, IndexRecordOption::Basic)? else {
        return Ok(());
    };
    loop {
        let docs = postings.docs();
        if docs.is_empty() {
            return Ok(());
        }
        each(docs);
        postings.advance();
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
