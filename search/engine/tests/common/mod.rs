//! The backends every engine test runs on: tantivy (in memory) and, when
//! its server runs (always in CI), Meilisearch with an index of its own.

#![allow(dead_code)]

use civitas_search::{Engine, MeiliConfig, MeiliIndex, TantivyIndex};

/// Both backends, fresh and empty.
pub async fn engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Tantivy(
        TantivyIndex::in_memory().unwrap_or_else(|e| panic!("in-memory index: {e}")),
    )];
    if let Some(server) = civitas_testkit::meili() {
        let index = MeiliIndex::open(&MeiliConfig {
            url: server.url.clone(),
            key: Some(server.key.clone()),
            index: server.unique_index(),
            public_url: None,
        })
        .await
        .unwrap_or_else(|e| panic!("Meilisearch index: {e}"));
        engines.push(Engine::Meili(Box::new(index)));
    }
    engines
}
