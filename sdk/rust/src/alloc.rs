//! The module's memory allocator: a bump allocator.
//!
//! A module instance lives for exactly one call (the host instantiates a
//! fresh one per evaluation and drops it after), so memory never needs to
//! be freed. Bumping a pointer through a static arena means no `memory.grow`
//! for typical calls — each growth costs the host system calls — and no
//! allocator bookkeeping; growing the last allocation (a `String` or `Vec`
//! being built) happens in place. Past the arena, memory grows in whole
//! pages, up to the host's limit, where allocation fails and the call ends
//! with the host's memory-limit error.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;

/// Bytes served before memory has to grow.
const ARENA: usize = 256 * 1024;
const PAGE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA]>);

/// The allocator installed by this crate.
pub struct BumpAllocator {
    state: UnsafeCell<State>,
}

struct State {
    /// Next free address.
    next: usize,
    /// End of the usable region.
    end: usize,
    /// Start of the last allocation (for in-place growth).
    last: usize,
}

static ARENA_MEMORY: Arena = Arena(UnsafeCell::new([0; ARENA]));

// SAFETY: WebAssembly modules built by this SDK are single-threaded.
unsafe impl Sync for Arena {}
// SAFETY: as above.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    /// An allocator with nothing allocated yet.
    pub const fn new() -> BumpAllocator {
        BumpAllocator {
            state: UnsafeCell::new(State {
                next: 0,
                end: 0,
                last: 0,
            }),
        }
    }
}

impl Default for BumpAllocator {
    fn default() -> BumpAllocator {
        BumpAllocator::new()
    }
}

fn align_up(address: usize, align: usize) -> Option<usize> {
    address.checked_add(align - 1).map(|a| a & !(align - 1))
}

#[cfg(target_arch = "wasm32")]
fn grow(bytes: usize) -> Option<(usize, usize)> {
    let pages = bytes.div_ceil(PAGE);
    let previous = core::arch::wasm32::memory_grow(0, pages);
    if previous == usize::MAX {
        return None;
    }
    let low = previous.checked_mul(PAGE)?;
    let high = previous.checked_add(pages)?.checked_mul(PAGE)?;
    Some((low, high))
}

#[cfg(not(target_arch = "wasm32"))]
fn grow(_bytes: usize) -> Option<(usize, usize)> {
    None
}

// SAFETY: returns properly aligned, non-overlapping blocks of at least the
// requested size, or null; single-threaded (see above).
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded; no other reference to the state exists
        // during this call.
        let state = unsafe { &mut *self.state.get() };
        if state.end == 0 {
            state.next = ARENA_MEMORY.0.get() as usize;
            state.end = state.next + ARENA;
        }
        let Some(start) = align_up(state.next, layout.align()) else {
            return std::ptr::null_mut();
        };
        let Some(stop) = start.checked_add(layout.size()) else {
            return std::ptr::null_mut();
        };
        if stop <= state.end {
            state.next = stop;
            state.last = start;
            return start as *mut u8;
        }
        // Past the arena: grow memory and continue in the new pages.
        let wanted = layout.size() + layout.align();
        let Some((low, high)) = grow(wanted.max(4 * PAGE)) else {
            return std::ptr::null_mut();
        };
        state.next = low;
        state.end = high;
        let Some(start) = align_up(state.next, layout.align()) else {
            return std::ptr::null_mut();
        };
        state.next = start + layout.size();
        state.last = start;
        start as *mut u8
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: single-threaded.
        let state = unsafe { &mut *self.state.get() };
        // Freeing the last block gives its space back; others stay until
        // the instance is dropped.
        if pointer as usize == state.last && state.last + layout.size() == state.next {
            state.next = state.last;
        }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        {
            // SAFETY: single-threaded.
            let state = unsafe { &mut *self.state.get() };
            let start = pointer as usize;
            if start == state.last && start + layout.size() == state.next {
                if let Some(stop) = start.checked_add(new_size) {
                    if stop <= state.end {
                        state.next = stop;
                        return pointer;
                    }
                }
            }
        }
        // SAFETY: the layout's alignment is valid and new_size is nonzero
        // (GlobalAlloc::realloc's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not
            // overlap (the new one lies past the old one).
            unsafe { std::ptr::copy_nonoverlapping(pointer, new, layout.size().min(new_size)) };
        }
        new
    }
}
