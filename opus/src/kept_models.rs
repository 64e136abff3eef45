//! The models blob libopus was handed ([`crate::models::load`]), kept for
//! the life of the process (libopus's models point into it): every
//! encoder and decoder made after gets it.

use std::sync::OnceLock;

/// Records are 64-byte aligned: a 64-byte header, then the array padded.
pub(crate) const BLOCK: usize = 64;

/// A 64-byte block, so the blob's arrays are aligned as libopus's own
/// compiled-in arrays.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; BLOCK]);

/// A blob copied into aligned blocks.
pub(crate) struct Blocks {
    blocks: Vec<Block>,
    len: usize,
}

impl Blocks {
    /// A copy of `blob`.
    pub(crate) fn copy(blob: &[u8]) -> Self {
        let mut blocks = vec![Block([0; BLOCK]); blob.len().div_ceil(BLOCK)];
        for (block, chunk) in blocks.iter_mut().zip(blob.chunks(BLOCK)) {
            block.0[..chunk.len()].copy_from_slice(chunk);
        }
        Self {
            blocks,
            len: blob.len(),
        }
    }

    /// Where the blob starts, and its length in bytes.
    pub(crate) fn as_ptr_len(&self) -> (*const u8, usize) {
        (self.blocks.as_ptr().cast(), self.len)
    }
}

/// The kept blob and its length in bytes.
static KEPT: OnceLock<(&'static [Block], usize)> = OnceLock::new();

/// Keeps `blocks` for the life of the process, unless a blob is kept
/// already.
pub(crate) fn keep(blocks: Blocks) {
    KEPT.get_or_init(|| (Box::leak(blocks.blocks.into_boxed_slice()), blocks.len));
}

/// The kept blob (start and length) to hand a new encoder or decoder, if
/// one was loaded.
pub(crate) fn loaded() -> Option<(*const u8, usize)> {
    KEPT.get()
        .map(|(blocks, len)| (blocks.as_ptr().cast(), *len))
}
