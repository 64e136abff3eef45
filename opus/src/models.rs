//! libopus's neural network models (deep PLC, FARGAN, pitch, DRED's encoder
//! and decoder) as one blob, libopus's own format (`OPUS_SET_DNN_BLOB`).
//!
//! Built by default, the weights are compiled into the library (3.3 MB).
//! With the feature `runtime-models` they are not: the library is that much
//! smaller, and an app hands the blob over at run time with [`load`] (an
//! asset it ships or downloads, written by the `opus-models` binary). Until
//! then the codec works without them: classic concealment instead of deep
//! PLC, no DRED encoded or decoded. Encoders and decoders made after
//! [`load`] get the models.

use std::ffi::{c_char, c_int, c_void, CStr};

use crate::kept_models::{keep, loaded, Blocks, BLOCK};
use crate::Error;

/// libopus's `WeightArray`: one named array of a model.
#[repr(C)]
struct WeightArray {
    name: *const c_char,
    kind: c_int,
    size: c_int,
    data: *const c_void,
}

extern "C" {
    // The models' arrays, each list ended by a null name (`dnn/*_data.c`,
    // compiled in every build; linked only where referenced).
    static pitchdnn_arrays: WeightArray;
    static fargan_arrays: WeightArray;
    static plcmodel_arrays: WeightArray;
    static rdovaeenc_arrays: WeightArray;
    static rdovaedec_arrays: WeightArray;
}

/// Bytes of a record's name in its header, the last one zero.
const NAME_LEN: usize = BLOCK - 20;
/// The blob version libopus 1.5 reads.
const VERSION: i32 = 0;
/// Largest blob [`load`] takes (the release's models are 3.3 MB).
pub const MAX_MODELS_BYTES: usize = 16 << 20;

/// Why a models blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelsError {
    /// Not libopus's blob format, or cut short.
    #[error("not an opus models blob: {0}")]
    Malformed(&'static str),
    /// Larger than [`MAX_MODELS_BYTES`].
    #[error("opus models blob larger than {MAX_MODELS_BYTES} bytes")]
    TooLarge,
    /// Well formed, but libopus found a model missing or of the wrong shape
    /// (a blob of another libopus release).
    #[error("opus models blob refused by libopus: {0}")]
    Refused(Error),
}

/// The models compiled into libopus's sources, as a blob [`load`] takes.
pub fn builtin() -> Vec<u8> {
    let mut out = Vec::with_capacity(3_400_000);
    // SAFETY: each is the first element of a static array ended by an
    // element whose name is null; `write_list` reads up to that one.
    unsafe {
        for list in [
            &pitchdnn_arrays,
            &fargan_arrays,
            &plcmodel_arrays,
            &rdovaeenc_arrays,
            &rdovaedec_arrays,
        ] {
            write_list(list, &mut out);
        }
    }
    out
}

/// Appends the records of one null-terminated `WeightArray` list.
///
/// # Safety
/// `first` must start a list ended by an element with a null name, each
/// element's `data` valid for `size` bytes.
unsafe fn write_list(first: *const WeightArray, out: &mut Vec<u8>) {
    let mut at = first;
    // SAFETY: the caller's contract: every element up to the terminator.
    while let Some(a) = unsafe { at.as_ref() }.filter(|a| !a.name.is_null()) {
        let size = usize::try_from(a.size).unwrap_or(0);
        let padded = size.div_ceil(BLOCK) * BLOCK;
        out.extend_from_slice(b"DNNw");
        out.extend_from_slice(&VERSION.to_ne_bytes());
        out.extend_from_slice(&a.kind.to_ne_bytes());
        out.extend_from_slice(&a.size.to_ne_bytes());
        out.extend_from_slice(&(padded as i32).to_ne_bytes());
        // SAFETY: a compiled-in array name, a C string.
        let name = unsafe { CStr::from_ptr(a.name) }.to_bytes();
        let mut field = [0u8; NAME_LEN];
        let n = name.len().min(NAME_LEN - 1);
        field[..n].copy_from_slice(&name[..n]);
        out.extend_from_slice(&field);
        // SAFETY: `data` holds `size` bytes.
        out.extend_from_slice(unsafe { std::slice::from_raw_parts(a.data.cast::<u8>(), size) });
        out.resize(out.len() + padded - size, 0);
        // SAFETY: the terminator has not been reached, so the next
        // element is in the list.
        at = unsafe { at.add(1) };
    }
}

/// Checks the records of a blob as libopus's parser does: each header's
/// sizes inside the blob, its name ended by a zero.
fn check_records(mut blob: &[u8]) -> Result<(), ModelsError> {
    let int = |b: &[u8], at: usize| i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if blob.is_empty() {
        return Err(ModelsError::Malformed("no record"));
    }
    while !blob.is_empty() {
        if blob.len() < BLOCK {
            return Err(ModelsError::Malformed("a record is cut short"));
        }
        if &blob[..4] != b"DNNw" || int(blob, 4) != VERSION {
            return Err(ModelsError::Malformed("a record header is not libopus's"));
        }
        let (size, padded) = (int(blob, 12), int(blob, 16));
        let (Ok(size), Ok(padded)) = (usize::try_from(size), usize::try_from(padded)) else {
            return Err(ModelsError::Malformed("a negative size"));
        };
        if padded < size || padded > blob.len() - BLOCK || blob[BLOCK - 1] != 0 {
            return Err(ModelsError::Malformed("a record's size is out of bounds"));
        }
        blob = &blob[BLOCK + padded..];
    }
    Ok(())
}

/// Hands libopus the models blob for every encoder and decoder made from
/// now on. The first blob taken stays; later calls check their records
/// and change nothing. Without the feature `runtime-models` the library has the
/// models compiled in: the blob is checked, then not needed.
pub fn load(blob: &[u8]) -> Result<(), ModelsError> {
    if blob.len() > MAX_MODELS_BYTES {
        return Err(ModelsError::TooLarge);
    }
    check_records(blob)?;
    if cfg!(feature = "runtime-models") && loaded().is_none() {
        let blocks = Blocks::copy(blob);
        // libopus checks every model is there and of the right shape.
        let (at, len) = blocks.as_ptr_len();
        crate::Decoder::new(48_000, 1)?.set_models(at, len)?;
        crate::DredDecoder::new()?.set_models(at, len)?;
        crate::Encoder::new(48_000, 1, crate::Application::Voip)?.set_models(at, len)?;
        keep(blocks);
    }
    Ok(())
}

/// Whether libopus has its models: compiled in, or loaded at run time.
pub fn available() -> bool {
    !cfg!(feature = "runtime-models") || loaded().is_some()
}

impl From<Error> for ModelsError {
    fn from(e: Error) -> Self {
        Self::Refused(e)
    }
}
