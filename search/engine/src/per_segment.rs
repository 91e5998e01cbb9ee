//! Data derived from each segment of an index — a table, a column read
//! whole — made when a searcher holding the segment is made and dropped
//! once no searcher in use holds it.
//!
//! tantivy calls a [`Warmer`] on every reload with the new searcher, so a
//! commit or a merge pays for the segments it made, not the next query; and
//! it tells the warmer which searcher generations are still in use, so
//! derived data lives exactly as long as a searcher may ask for it. A
//! segment no warming derived (its data could not be read, say, or a
//! searcher made without this warmer) is derived by the first query that
//! needs it, which then reports what is wrong.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::{Searcher, SearcherGeneration, SegmentReader, Warmer};

/// How one kind of data is derived from a segment.
pub(crate) trait Derive: Send + Sync {
    /// What is derived.
    type Output: Send + Sync;
    /// What the log calls it when warming cannot derive it.
    const WHAT: &'static str;
    /// Derives it from `reader` (segments never change: once is enough).
    fn derive(&self, reader: &SegmentReader) -> tantivy::Result<Self::Output>;
}

/// `D`'s data of each live segment: a [`Warmer`] to register with the
/// index's reader (which holds it weakly).
pub(crate) struct PerSegment<D: Derive> {
    derive: D,
    by_segment: Mutex<HashMap<SegmentId, Arc<D::Output>>>,
}

impl<D: Derive> PerSegment<D> {
    /// Data derived by `derive`, none yet.
    pub(crate) fn new(derive: D) -> PerSegment<D> {
        PerSegment {
            derive,
            by_segment: Mutex::default(),
        }
    }

    /// How it is derived.
    pub(crate) fn derivation(&self) -> &D {
        &self.derive
    }

    /// The data of `reader`'s segment, derived now if warming did not.
    pub(crate) fn of(&self, reader: &SegmentReader) -> tantivy::Result<Arc<D::Output>> {
        let id = reader.segment_id();
        if let Some(data) = self.lock().get(&id) {
            return Ok(data.clone());
        }
        let data = Arc::new(self.derive.derive(reader)?);
        self.lock().insert(id, data.clone());
        Ok(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<D::Output>>> {
        // The map holds only derived data: a poisoned lock's map is still
        // a correct cache.
        self.by_segment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<D: Derive> Warmer for PerSegment<D> {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for reader in searcher.segment_readers() {
            // Not an error of the reload: the index keeps taking changes,
            // and a query that needs this segment's data derives it again
            // and fails.
            if let Err(e) = self.of(reader) {
                tracing::warn!(
                    error = %e,
                    segment = %reader.segment_id().short_uuid_string(),
                    "检索索引分段的派生数据无法读取 (a search segment's {} cannot be read)",
                    D::WHAT
                );
            }
        }
        Ok(())
    }

    fn garbage_collect(&self, live_generations: &[&SearcherGeneration]) {
        self.lock().retain(|id, _| {
            live_generations
                .iter()
                .any(|generation| generation.segments().contains_key(id))
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tantivy::schema::{INDEXED, Schema};
    use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, doc};

    use super::*;

    /// Counts its derivations; derives a segment's size.
    struct Sizes(AtomicUsize);

    impl Derive for Sizes {
        type Output = u32;
        const WHAT: &'static str = "size";

        fn derive(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(reader.max_doc())
        }
    }

    /// A segment is derived once, when the first searcher holding it is
    /// made (a commit, a merge), not by the queries that use it; once no
    /// searcher in use holds it, its data is dropped.
    #[test]
    fn each_segment_is_derived_once_as_its_searcher_is_made_and_dropped_when_none_holds_it() {
        let mut schema = Schema::builder();
        let n = schema.add_u64_field("n", INDEXED);
        let index = Index::create_in_ram(schema.build());
        let sizes = Arc::new(PerSegment::new(Sizes(AtomicUsize::new(0))));
        let warmer: Arc<dyn Warmer> = sizes.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()
            .unwrap_or_else(|e| panic!("{e}"));
        let derived = || sizes.derivation().0.load(Ordering::SeqCst);
        let mut writer: IndexWriter<TantivyDocument> = index
            .writer_with_num_threads(1, 15_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        for (commit, size) in [(1u64, 2u64), (2, 3)] {
            for i in 0..size {
                writer
                    .add_document(doc!(n => commit * 10 + i))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            writer.commit().unwrap_or_else(|e| panic!("{e}"));
            reader.reload().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(derived(), commit as usize, "after commit {commit}");
        }
        let searcher = reader.searcher();
        let mut found: Vec<u32> = searcher
            .segment_readers()
            .iter()
            .map(|r| *sizes.of(r).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        found.sort_unstable();
        assert_eq!(found, [2, 3]);
        assert_eq!(derived(), 2, "queries derive nothing warming derived");

        let ids = index
            .searchable_segment_ids()
            .unwrap_or_else(|e| panic!("{e}"));
        writer.merge(&ids).wait().unwrap_or_else(|e| panic!("{e}"));
        reader.reload().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(derived(), 3, "the merged segment, as its searcher is made");
        let merged = reader.searcher();
        // The old searcher still holds the two segments merged away.
        sizes.garbage_collect(&[searcher.generation(), merged.generation()]);
        assert_eq!(sizes.lock().len(), 3);
        drop(searcher);
        sizes.garbage_collect(&[merged.generation()]);
        assert_eq!(sizes.lock().len(), 1);
        let only = &merged.segment_readers()[0];
        assert_eq!(*sizes.of(only).unwrap_or_else(|e| panic!("{e}")), 5);
        assert_eq!(derived(), 3);
    }
}
