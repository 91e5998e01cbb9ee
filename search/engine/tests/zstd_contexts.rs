//! The vendored zstd (`search/vendor/zstd`, CIVITAS.md there): its bulk
//! calls make a context once per thread and reuse it, and what they produce
//! is exactly what a fresh context produces, whatever came before on the
//! thread — another level, a corrupt frame, a destination too small — and on
//! any thread.

use zstd::bulk::{self, Compressor, Decompressor};

/// A doc-store-sized block of case text (Chinese and ASCII), different for
/// each `seed`.
fn block(seed: u32) -> Vec<u8> {
    let mut text = String::new();
    let mut n = seed;
    while text.len() < 16 * 1024 {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        text.push_str(
            ["申请人", "助餐补贴", "浦东新区", "陆家嘴街道", "审核通过"][(n >> 16) as usize % 5],
        );
        text.push_str(&format!("{} ", n % 1000));
    }
    text.into_bytes()
}

fn fresh_compress(data: &[u8], level: i32) -> Vec<u8> {
    Compressor::new(level)
        .and_then(|mut c| c.compress(data))
        .unwrap_or_else(|e| panic!("fresh compressor: {e}"))
}

#[test]
fn a_thread_makes_one_context_of_each_kind_and_reuses_it() {
    let made = bulk::contexts_made_on_this_thread();
    let data = block(3);
    let mut out = vec![0u8; data.len()];
    for _ in 0..100 {
        let packed = bulk::compress(&data, 1).unwrap_or_else(|e| panic!("{e}"));
        let n = bulk::decompress_to_buffer(&packed, &mut out[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[..n], data[..]);
    }
    assert_eq!(bulk::contexts_made_on_this_thread() - made, 2);
    // Another level replaces the compressor once.
    for _ in 0..10 {
        bulk::compress(&data, 3).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(bulk::contexts_made_on_this_thread() - made, 3);
}

#[test]
fn bulk_compression_gives_a_fresh_contexts_bytes_at_every_level_in_turn() {
    for round in 0..3 {
        for (i, level) in [1, 3, 1, 19, -5, 0, 1].into_iter().enumerate() {
            let data = block(round * 10 + i as u32);
            let reused = bulk::compress(&data, level).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(reused, fresh_compress(&data, level), "level {level}");
            let mut into = vec![0u8; zstd::zstd_safe::compress_bound(data.len())];
            let n = bulk::compress_to_buffer(&data, &mut into[..], level)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(into[..n], reused[..], "level {level}, into a buffer");
            let back = bulk::decompress(&reused, data.len())
                .unwrap_or_else(|e| panic!("level {level}, {} bytes: {e}", data.len()));
            assert_eq!(back, data);
        }
    }
}

#[test]
fn a_corrupt_frame_fails_alone_and_the_next_one_decompresses() {
    let data = block(7);
    let good = bulk::compress(&data, 1).unwrap_or_else(|e| panic!("{e}"));
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle..].iter_mut().for_each(|b| *b ^= 0x5a);
    let mut out = vec![0u8; data.len()];
    for _ in 0..3 {
        assert!(bulk::decompress_to_buffer(&corrupt, &mut out[..]).is_err());
        assert!(bulk::decompress_to_buffer(&good[..good.len() - 3], &mut out[..]).is_err());
        let n = bulk::decompress_to_buffer(&good, &mut out[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[..n], data[..]);
        // The same frame through a context of its own, for comparison.
        let mut own = vec![0u8; data.len()];
        let m = Decompressor::new()
            .and_then(|mut d| d.decompress_to_buffer(&good, &mut own[..]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own[..m], out[..n]);
    }
}

#[test]
fn a_destination_too_small_fails_alone_and_the_next_compression_is_whole() {
    let data = block(11);
    let mut small = [0u8; 64];
    for _ in 0..3 {
        assert!(bulk::compress_to_buffer(&data, &mut small[..], 1).is_err());
        let whole = bulk::compress(&data, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(whole, fresh_compress(&data, 1));
        let mut out = [0u8; 16];
        assert!(bulk::decompress_to_buffer(&whole, &mut out[..]).is_err());
        assert_eq!(
            bulk::decompress(&whole, data.len()).unwrap_or_else(|e| panic!("{e}")),
            data
        );
    }
}

#[test]
fn threads_compressing_and_decompressing_at_once_each_get_their_own_bytes_back() {
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                // One level per thread, so each reuses its compressor.
                let level = [1, 3][(t % 2) as usize];
                for i in 0..50 {
                    let data = block(t * 1000 + i);
                    let packed = bulk::compress(&data, level).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(packed, fresh_compress(&data, level));
                    let back =
                        bulk::decompress(&packed, data.len()).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(back, data);
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .unwrap_or_else(|_| panic!("a worker panicked"));
    }
}

/// The change is in force only while the workspace's `[patch.crates-io]`
/// points at the vendored copy: tantivy's doc store then uses it too.
#[test]
fn the_workspace_builds_against_the_vendored_zstd() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .unwrap_or_else(|e| panic!("Cargo.lock: {e}"));
    let entries: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.contains("\nname = \"zstd\"\n"))
        .collect();
    assert!(!entries.is_empty(), "no zstd in Cargo.lock");
    for entry in entries {
        assert!(
            !entry.contains("source ="),
            "a zstd from a registry, not search/vendor/zstd:{entry}"
        );
    }
}
