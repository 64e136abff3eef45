//! Raw declarations of the libopus 1.5 functions Aura uses (`include/opus.h`,
//! `include/opus_defines.h`). Only [`crate`]'s safe types call these.

use std::ffi::{c_char, c_int, c_uchar};

/// Opaque `OpusEncoder`.
#[repr(C)]
pub(crate) struct OpusEncoder {
    _private: [u8; 0],
}

/// Opaque `OpusDecoder`.
#[repr(C)]
pub(crate) struct OpusDecoder {
    _private: [u8; 0],
}

/// Opaque `OpusDREDDecoder`.
#[repr(C)]
pub(crate) struct OpusDREDDecoder {
    _private: [u8; 0],
}

/// Opaque `OpusDRED`.
#[repr(C)]
pub(crate) struct OpusDRED {
    _private: [u8; 0],
}

pub(crate) const OPUS_OK: c_int = 0;

pub(crate) const OPUS_APPLICATION_VOIP: c_int = 2048;
pub(crate) const OPUS_APPLICATION_AUDIO: c_int = 2049;
pub(crate) const OPUS_APPLICATION_RESTRICTED_LOWDELAY: c_int = 2051;

pub(crate) const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
pub(crate) const OPUS_GET_BITRATE_REQUEST: c_int = 4003;
pub(crate) const OPUS_SET_MAX_BANDWIDTH_REQUEST: c_int = 4004;
pub(crate) const OPUS_SET_VBR_REQUEST: c_int = 4006;
pub(crate) const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
pub(crate) const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
pub(crate) const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
pub(crate) const OPUS_SET_DTX_REQUEST: c_int = 4016;
pub(crate) const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
pub(crate) const OPUS_GET_LOOKAHEAD_REQUEST: c_int = 4027;
pub(crate) const OPUS_GET_IN_DTX_REQUEST: c_int = 4049;
pub(crate) const OPUS_SET_DRED_DURATION_REQUEST: c_int = 4050;
pub(crate) const OPUS_GET_DRED_DURATION_REQUEST: c_int = 4051;
pub(crate) const OPUS_SET_DNN_BLOB_REQUEST: c_int = 4052;

extern "C" {
    pub(crate) fn opus_get_version_string() -> *const c_char;
    pub(crate) fn opus_packet_has_lbrr(packet: *const c_uchar, len: i32) -> c_int;

    pub(crate) fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoder;
    pub(crate) fn opus_encode(
        st: *mut OpusEncoder,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut c_uchar,
        max_data_bytes: i32,
    ) -> i32;
    pub(crate) fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;
    pub(crate) fn opus_encoder_destroy(st: *mut OpusEncoder);

    pub(crate) fn opus_decoder_create(
        fs: i32,
        channels: c_int,
        error: *mut c_int,
    ) -> *mut OpusDecoder;
    pub(crate) fn opus_decode(
        st: *mut OpusDecoder,
        data: *const c_uchar,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    pub(crate) fn opus_decoder_ctl(st: *mut OpusDecoder, request: c_int, ...) -> c_int;
    pub(crate) fn opus_decoder_destroy(st: *mut OpusDecoder);
    pub(crate) fn opus_decoder_dred_decode(
        st: *mut OpusDecoder,
        dred: *const OpusDRED,
        dred_offset: i32,
        pcm: *mut i16,
        frame_size: i32,
    ) -> c_int;

    pub(crate) fn opus_dred_decoder_create(error: *mut c_int) -> *mut OpusDREDDecoder;
    pub(crate) fn opus_dred_decoder_destroy(dec: *mut OpusDREDDecoder);
    pub(crate) fn opus_dred_decoder_ctl(dec: *mut OpusDREDDecoder, request: c_int, ...) -> c_int;
    pub(crate) fn opus_dred_alloc(error: *mut c_int) -> *mut OpusDRED;
    pub(crate) fn opus_dred_free(dred: *mut OpusDRED);
    pub(crate) fn opus_dred_parse(
        dred_dec: *mut OpusDREDDecoder,
        dred: *mut OpusDRED,
        data: *const c_uchar,
        len: i32,
        max_dred_samples: i32,
        sampling_rate: i32,
        dred_end: *mut c_int,
        defer_processing: c_int,
    ) -> c_int;
}
