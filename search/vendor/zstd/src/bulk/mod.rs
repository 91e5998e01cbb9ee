//! Compress and decompress data in bulk.
//!
//! These methods process all the input data at once.
//! It is therefore best used with relatively small blocks
//! (like small network packets).

mod compressor;
mod decompressor;

#[cfg(test)]
mod tests;

pub use self::compressor::Compressor;
pub use self::decompressor::Decompressor;

use std::cell::{Cell, RefCell};
use std::io;

// Civitas: one compression and one decompression context per thread, made
// on first use and reused by the bulk functions below (upstream makes and
// frees one per call). Making a context costs about as much as a 16 KiB
// block's work: an allocation of ~100 KiB and three `cpuid` instructions,
// which a virtual machine traps (30 us against 16 us per block decompressed
// on this project's VMs; CIVITAS.md). A context holds no data between calls: every frame
// starts a new session, and neither function sets a dictionary or a
// parameter other than the level.
thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> =
        const { RefCell::new(None) };
    static CONTEXTS_MADE: Cell<u64> = const { Cell::new(0) };
}

/// Civitas: how many contexts the bulk functions have made on this thread
/// (what the tests of the change observe: one per kind, then none).
#[doc(hidden)]
pub fn contexts_made_on_this_thread() -> u64 {
    CONTEXTS_MADE.try_with(Cell::get).unwrap_or(0)
}

fn made_one() {
    let _ = CONTEXTS_MADE.try_with(|n| n.set(n.get() + 1));
}

fn new_compressor(level: i32) -> io::Result<Compressor<'static>> {
    made_one();
    Compressor::new(level)
}

fn new_decompressor() -> io::Result<Decompressor<'static>> {
    made_one();
    Decompressor::new()
}

/// Runs `f` with this thread's compressor, made anew when `level` is not the
/// last call's, or with a new one when the thread's is in use (re-entered)
/// or gone (thread exiting).
fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut Compressor<'static>) -> io::Result<T>,
) -> io::Result<T> {
    let mut f = Some(f);
    let reused = COMPRESSOR.try_with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return None;
        };
        if !matches!(&*slot, Some((l, _)) if *l == level) {
            match new_compressor(level) {
                Ok(compressor) => *slot = Some((level, compressor)),
                Err(e) => return Some(Err(e)),
            }
        }
        let (_, compressor) = slot.as_mut()?;
        Some((f.take()?)(compressor))
    });
    match (reused, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(&mut new_compressor(level)?),
        (_, None) => Err(io::Error::other("zstd: compressor unavailable")),
    }
}

/// Runs `f` with this thread's decompressor, or with a new one when the
/// thread's is in use (re-entered) or gone (thread exiting).
fn with_decompressor<T>(
    f: impl FnOnce(&mut Decompressor<'static>) -> io::Result<T>,
) -> io::Result<T> {
    let mut f = Some(f);
    let reused = DECOMPRESSOR.try_with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return None;
        };
        if slot.is_none() {
            match new_decompressor() {
                Ok(decompressor) => *slot = Some(decompressor),
                Err(e) => return Some(Err(e)),
            }
        }
        let decompressor = slot.as_mut()?;
        Some((f.take()?)(decompressor))
    });
    match (reused, f) {
        (Ok(Some(result)), _) => result,
        (_, Some(f)) => f(&mut new_decompressor()?),
        (_, None) => Err(io::Error::other("zstd: decompressor unavailable")),
    }
}

/// Compresses a single block of data to the given destination buffer.
///
/// Returns the number of bytes written, or an error if something happened
/// (for instance if the destination buffer was too small).
///
/// [`crate::compress_bound()`] says how large the destination might need to
/// be. Passing a `Vec` instead of a slice works too, and then it is the
/// `Vec`'s *capacity* that bounds the output - so `reserve` what you need
/// rather than `resize`, since the bytes do not have to be initialized.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn compress_to_buffer(
    source: &[u8],
    destination: &mut [u8],
    level: i32,
) -> io::Result<usize> {
    with_compressor(level, |c| c.compress_to_buffer(source, destination))
}

/// Compresses a block of data and returns the compressed result.
///
/// A level of `0` uses zstd's default (currently `3`).
pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
    with_compressor(level, |c| c.compress(data))
}

/// Decompress a single block of data to the given destination buffer.
///
/// Returns the number of bytes written, or an error if something happened
/// (for instance if the destination buffer was too small).
///
/// [`crate::decompressed_size()`] says how big the result will be, when the
/// frame records it - there is no need to store the size alongside the data
/// yourself.
///
/// Only as many bytes as returned at the start of `destination` are
/// meaningful: zstd may overwrite the rest, even if it was zero-filled
/// beforehand. This function only takes a slice; to decompress into a `Vec`
/// and have its length set to the output size, use
/// [`Decompressor::decompress_to_buffer`].
pub fn decompress_to_buffer(
    source: &[u8],
    destination: &mut [u8],
) -> io::Result<usize> {
    with_decompressor(|d| d.decompress_to_buffer(source, destination))
}

/// Decompresses a block of data and returns the decompressed result.
///
/// The decompressed data should be at most `capacity` bytes, or an error will
/// be returned - so `capacity` is the most you are willing to allocate for
/// this, not a guess that has to be right.
///
/// The output buffer is allocated once, before decompressing, so that zstd
/// can decompress straight into it. Its size is:
///
/// * the decompressed size, when every frame records it - however large a
///   `capacity` you allow;
/// * otherwise, with the `experimental` feature, zstd's upper bound for the
///   data, when it is smaller than `capacity`;
/// * otherwise, `capacity` itself, even if the data then turns out to be
///   invalid. So only pass a `capacity` you can afford to allocate.
///
/// [`crate::decompressed_size()`] gives you the size up front, if you would
/// rather decide for yourself.
pub fn decompress(data: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
    with_decompressor(|d| d.decompress(data, capacity))
}
