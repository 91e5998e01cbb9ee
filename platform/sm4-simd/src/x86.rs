//! The vector path: AVX2 registers hold one 32-bit word of eight blocks,
//! GFNI computes the S-box.
//!
//! Every `unsafe` in the crate is here, of two kinds:
//! - calling a `#[target_feature(enable = "avx2,gfni")]` function from code
//!   compiled without those features. A [`RoundKeys`] is only ever made by
//!   [`RoundKeys::expand`] after [`available`] found both features, so a
//!   method that holds one may make that call;
//! - unaligned vector loads and stores, each within a fixed-size buffer
//!   whose size the function's type states.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm_cvtsi32_si128, _mm_cvtsi128_si32, _mm_gf2p8affine_epi64_epi8,
    _mm_gf2p8affineinv_epi64_epi8, _mm_set1_epi64x, _mm256_gf2p8affine_epi64_epi8,
    _mm256_gf2p8affineinv_epi64_epi8, _mm256_loadu_si256, _mm256_or_si256, _mm256_set_epi64x,
    _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_shuffle_epi8,
    _mm256_slli_epi32, _mm256_srli_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi32,
    _mm256_unpackhi_epi64, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64, _mm256_xor_si256,
};

use cipher::consts::U16;
use cipher::{
    Block, BlockCipherDecBackend, BlockCipherEncBackend, BlockSizeUser, InOut, InOutBuf, ParBlocks,
    ParBlocksSizeUser,
};
use zeroize::Zeroize;

/// SM4's S-box is `A·I(A·x ⊕ C) ⊕ C`, `I` the inverse in GF(2⁸) modulo
/// x⁸+x⁷+x⁶+x⁵+x⁴+x²+1, `A` a fixed 8×8 bit matrix and `C` = 0xD3. GFNI
/// inverts modulo the AES polynomial, so the matrices below fold in the
/// field isomorphism `T` (x ↦ 0x23): `M_IN = T·A`, `C_IN = T·C`,
/// `M_OUT = A·T⁻¹`, `C_OUT = C`, in GFNI's layout (row i of the matrix in
/// byte 7 − i). The tests check all 256 values against the standard's
/// table through the portable crate.
const M_IN: i64 = 0x4c28_7db9_1a22_505d;
const C_IN: i32 = 0x3e;
const M_OUT: i64 = 0xf3ab_34a9_74a6_b589_u64 as i64;
const C_OUT: i32 = 0xd3;

/// The system parameter FK and the fixed parameters CK of the key
/// schedule (GB/T 32907-2016, 7.3).
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];
const CK: [u32; 32] = {
    // Byte j of CK[i] is (4i + j)·7 mod 256.
    let mut ck = [0u32; 32];
    let mut i = 0;
    while i < 32 {
        let mut j = 0;
        while j < 4 {
            ck[i] |= ((((4 * i + j) * 7) % 256) as u32) << (24 - 8 * j);
            j += 1;
        }
        i += 1;
    }
    ck
};

/// How many blocks one pass of the vector kernel takes: two groups of eight
/// keep both of the core's vector ports busy while one group waits on its
/// S-box.
const PAR: usize = 16;

/// Whether this CPU has what the vector path needs.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("gfni")
}

/// The 32 round keys in encryption order and in decryption order. Made only
/// by [`RoundKeys::expand`], after [`available`]: holding one is holding
/// the proof that the vector functions may run.
#[derive(Clone)]
pub(crate) struct RoundKeys {
    encrypt: [u32; 32],
    decrypt: [u32; 32],
}

impl RoundKeys {
    /// The round keys of `key`, or `None` when this CPU lacks AVX2 or GFNI.
    pub(crate) fn expand(key: &[u8; 16]) -> Option<RoundKeys> {
        if !available() {
            return None;
        }
        // SAFETY: `available` has just found AVX2 and GFNI on this CPU.
        let encrypt = unsafe { key_schedule(key) };
        let mut decrypt = encrypt;
        decrypt.reverse();
        Some(RoundKeys { encrypt, decrypt })
    }

    /// The backend that encrypts.
    pub(crate) fn encryption(&self) -> Rounds<'_> {
        Rounds(&self.encrypt)
    }

    /// The backend that decrypts (the same rounds, keys reversed).
    pub(crate) fn decryption(&self) -> Rounds<'_> {
        Rounds(&self.decrypt)
    }
}

impl Drop for RoundKeys {
    fn drop(&mut self) {
        self.encrypt.zeroize();
        self.decrypt.zeroize();
    }
}

/// A block-cipher backend: the 32 rounds under one order of round keys.
/// Borrowed from a [`RoundKeys`], so it too proves the features are there.
pub(crate) struct Rounds<'a>(&'a [u32; 32]);

impl BlockSizeUser for Rounds<'_> {
    type BlockSize = U16;
}

impl ParBlocksSizeUser for Rounds<'_> {
    type ParBlocksSize = U16;
}

impl Rounds<'_> {
    fn one(&self, mut block: InOut<'_, '_, Block<Self>>) {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(block.get_in());
        // SAFETY: a `Rounds` borrows a `RoundKeys`, made only where AVX2
        // and GFNI were detected.
        unsafe { crypt_one(self.0, &mut bytes) };
        block.get_out().copy_from_slice(&bytes);
    }

    fn many(&self, mut blocks: InOutBuf<'_, '_, Block<Self>>) {
        // The tail of a message (fewer than `PAR` blocks, as the trait asks;
        // any count is taken, `PAR` at a time): full passes over a
        // zero-padded buffer, so the time does not depend on the data.
        let mut buffer = [0u8; 16 * PAR];
        let mut done = 0;
        while done < blocks.len() {
            let count = (blocks.len() - done).min(PAR);
            buffer.fill(0);
            for (i, chunk) in buffer.chunks_exact_mut(16).take(count).enumerate() {
                chunk.copy_from_slice(blocks.get_in()[done + i].as_slice());
            }
            // SAFETY: as in `one`.
            unsafe { crypt_par(self.0, &mut buffer) };
            for (i, chunk) in buffer.chunks_exact(16).take(count).enumerate() {
                blocks.get_out()[done + i].copy_from_slice(chunk);
            }
            done += count;
        }
        buffer.zeroize();
    }

    fn par(&self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let mut buffer = [0u8; 16 * PAR];
        for (chunk, block) in buffer.chunks_exact_mut(16).zip(blocks.get_in().iter()) {
            chunk.copy_from_slice(block.as_slice());
        }
        // SAFETY: as in `one`.
        unsafe { crypt_par(self.0, &mut buffer) };
        for (chunk, block) in buffer.chunks_exact(16).zip(blocks.get_out().iter_mut()) {
            block.copy_from_slice(chunk);
        }
        buffer.zeroize();
    }
}

impl BlockCipherEncBackend for Rounds<'_> {
    fn encrypt_block(&self, block: InOut<'_, '_, Block<Self>>) {
        self.one(block);
    }

    fn encrypt_par_blocks(&self, blocks: InOut<'_, '_, ParBlocks<Self>>) {
        self.par(blocks);
    }

    fn encrypt_tail_blocks(&self, blocks: InOutBuf<'_, '_, Block<Self>>) {
        self.many(blocks);
    }
}

impl BlockCipherDecBackend for Rounds<'_> {
    fn decrypt_block(&self, block: InOut<'_, '_, Block<Self>>) {
        self.one(block);
    }

    fn decrypt_par_blocks(&self, blocks: InOut<'_, '_, ParBlocks<Self>>) {
        self.par(blocks);
    }

    fn decrypt_tail_blocks(&self, blocks: InOutBuf<'_, '_, Block<Self>>) {
        self.many(blocks);
    }
}

/// τ on one word: the S-box on each of its four bytes.
#[inline]
#[target_feature(enable = "avx2,gfni")]
fn tau(word: u32) -> u32 {
    let x: __m128i = _mm_cvtsi32_si128(word as i32);
    let y = _mm_gf2p8affine_epi64_epi8::<C_IN>(x, _mm_set1_epi64x(M_IN));
    let z = _mm_gf2p8affineinv_epi64_epi8::<C_OUT>(y, _mm_set1_epi64x(M_OUT));
    _mm_cvtsi128_si32(z) as u32
}

/// The key schedule (GB/T 32907-2016, 7.3): `rk[i] = K[i+4]`, with
/// `K[i+4] = K[i] ⊕ T'(K[i+1] ⊕ K[i+2] ⊕ K[i+3] ⊕ CK[i])`.
#[target_feature(enable = "avx2,gfni")]
fn key_schedule(key: &[u8; 16]) -> [u32; 32] {
    let mut k = [0u32; 4];
    for (i, word) in k.iter_mut().enumerate() {
        *word = u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
            ^ FK[i];
    }
    let mut rk = [0u32; 32];
    for (i, round_key) in rk.iter_mut().enumerate() {
        let b = tau(k[(i + 1) % 4] ^ k[(i + 2) % 4] ^ k[(i + 3) % 4] ^ CK[i]);
        k[i % 4] ^= b ^ b.rotate_left(13) ^ b.rotate_left(23);
        *round_key = k[i % 4];
    }
    k.zeroize();
    rk
}

/// One block, word by word (a CBC encryption cannot do more at a time).
#[target_feature(enable = "avx2,gfni")]
fn crypt_one(rk: &[u32; 32], block: &mut [u8; 16]) {
    let mut x = [0u32; 4];
    for (i, word) in x.iter_mut().enumerate() {
        *word = u32::from_be_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ]);
    }
    let (quads, _) = rk.as_chunks::<4>();
    for quad in quads {
        for (i, round_key) in quad.iter().enumerate() {
            let b = tau(x[(i + 1) % 4] ^ x[(i + 2) % 4] ^ x[(i + 3) % 4] ^ round_key);
            x[i] ^=
                b ^ b.rotate_left(2) ^ b.rotate_left(10) ^ b.rotate_left(18) ^ b.rotate_left(24);
        }
    }
    // The output is the last four words in reverse order.
    for (i, word) in x.iter().rev().enumerate() {
        block[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    x.zeroize();
}

/// Byte orders within each 32-bit word, as `vpshufb` masks for both lanes.
const fn word_shuffle(order: [u8; 4]) -> (i64, i64) {
    let mut low = 0u64;
    let mut high = 0u64;
    let mut word = 0;
    while word < 2 {
        let mut byte = 0;
        while byte < 4 {
            let shift = 8 * (4 * word + byte);
            low |= ((order[byte] as u64) + 4 * word as u64) << shift;
            high |= ((order[byte] as u64) + 4 * (word as u64 + 2)) << shift;
            byte += 1;
        }
        word += 1;
    }
    (low as i64, high as i64)
}

/// Big-endian words to native ones and back.
const BYTE_SWAP: (i64, i64) = word_shuffle([3, 2, 1, 0]);
/// Left rotations of each word by 8, 16 and 24 bits.
const ROTATE_8: (i64, i64) = word_shuffle([3, 0, 1, 2]);
const ROTATE_16: (i64, i64) = word_shuffle([2, 3, 0, 1]);
const ROTATE_24: (i64, i64) = word_shuffle([1, 2, 3, 0]);

#[inline]
#[target_feature(enable = "avx2")]
fn shuffle(x: __m256i, (low, high): (i64, i64)) -> __m256i {
    _mm256_shuffle_epi8(x, _mm256_set_epi64x(high, low, high, low))
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor(a: __m256i, b: __m256i) -> __m256i {
    _mm256_xor_si256(a, b)
}

/// T = L ∘ τ on eight words. L(B) = B ⊕ B⋘2 ⊕ B⋘10 ⊕ B⋘18 ⊕ B⋘24, computed
/// as B ⊕ B⋘24 ⊕ (B ⊕ B⋘8 ⊕ B⋘16)⋘2: three byte shuffles and one real
/// rotation instead of four.
#[inline]
#[target_feature(enable = "avx2,gfni")]
fn t(x: __m256i) -> __m256i {
    let y = _mm256_gf2p8affine_epi64_epi8::<C_IN>(x, _mm256_set1_epi64x(M_IN));
    let b = _mm256_gf2p8affineinv_epi64_epi8::<C_OUT>(y, _mm256_set1_epi64x(M_OUT));
    let a = xor(xor(b, shuffle(b, ROTATE_8)), shuffle(b, ROTATE_16));
    let a = _mm256_or_si256(_mm256_slli_epi32::<2>(a), _mm256_srli_epi32::<30>(a));
    xor(xor(b, shuffle(b, ROTATE_24)), a)
}

/// A 4×4 transpose of 32-bit words within each 128-bit lane: four
/// registers of two blocks each become four registers of one word each
/// (of eight blocks), and back.
#[inline]
#[target_feature(enable = "avx2")]
fn transpose([a, b, c, d]: [__m256i; 4]) -> [__m256i; 4] {
    let ab_low = _mm256_unpacklo_epi32(a, b);
    let ab_high = _mm256_unpackhi_epi32(a, b);
    let cd_low = _mm256_unpacklo_epi32(c, d);
    let cd_high = _mm256_unpackhi_epi32(c, d);
    [
        _mm256_unpacklo_epi64(ab_low, cd_low),
        _mm256_unpackhi_epi64(ab_low, cd_low),
        _mm256_unpacklo_epi64(ab_high, cd_high),
        _mm256_unpackhi_epi64(ab_high, cd_high),
    ]
}

/// `PAR` blocks through the 32 rounds, in place.
#[target_feature(enable = "avx2,gfni")]
fn crypt_par(rk: &[u32; 32], buffer: &mut [u8; 16 * PAR]) {
    const GROUPS: usize = PAR / 8;
    let base = buffer.as_mut_ptr().cast::<__m256i>();
    let mut state = [[_mm256_setzero_si256(); 4]; GROUPS];
    for (g, words) in state.iter_mut().enumerate() {
        let mut blocks = [_mm256_setzero_si256(); 4];
        for (k, register) in blocks.iter_mut().enumerate() {
            // SAFETY: register 4g + k of the buffer's 2·PAR/4 = PAR/2
            // 32-byte registers: g < PAR/8 and k < 4, so it lies within the
            // buffer; `loadu` takes any alignment.
            let loaded = unsafe { _mm256_loadu_si256(base.add(4 * g + k)) };
            *register = shuffle(loaded, BYTE_SWAP);
        }
        *words = transpose(blocks);
    }
    // Four rounds at a time, so that every index below is a constant and
    // the state stays in registers.
    let (quads, _) = rk.as_chunks::<4>();
    for quad in quads {
        for (i, round_key) in quad.iter().enumerate() {
            let k = _mm256_set1_epi32(*round_key as i32);
            for words in state.iter_mut() {
                let x = xor(
                    xor(words[(i + 1) % 4], words[(i + 2) % 4]),
                    xor(words[(i + 3) % 4], k),
                );
                words[i % 4] = xor(words[i % 4], t(x));
            }
        }
    }
    for (g, [x0, x1, x2, x3]) in state.into_iter().enumerate() {
        // The output is the last four words in reverse order.
        for (k, register) in transpose([x3, x2, x1, x0]).into_iter().enumerate() {
            // SAFETY: the same register of the buffer the load above read.
            unsafe { _mm256_storeu_si256(base.add(4 * g + k), shuffle(register, BYTE_SWAP)) };
        }
    }
}
