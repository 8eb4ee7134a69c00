//! The batch codecs. Decompression always runs against a caller-given maximum
//! output size: a few compressed bytes can claim (or expand to) gigabytes, so
//! output sizes the input declares are never trusted beyond that limit.

use std::io::{self, Read, Write};

use crate::compression::Compression;
use crate::error::ErrorKind;

/// Java and kafka-python producers frame snappy with xerial's stream header;
/// librdkafka may send raw snappy.
pub const XERIAL_MAGIC: [u8; 8] = *b"\x82SNAPPY\0";
/// Magic, then u32 version and u32 minimum compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// xerial's default block size, as the Java client writes it.
const XERIAL_BLOCK_LEN: usize = 32 * 1024;
/// zstd windows are at least allowed up to this (2^23 = 8 MiB, what levels up
/// to 19 use) so that a small output limit does not refuse ordinary producers.
const ZSTD_MIN_WINDOW_LOG: u32 = 23;
const ZSTD_MAX_WINDOW_LOG: u32 = 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnappyFraming {
    #[default]
    Xerial,
    Raw,
}

/// Decompresses a batch's records section into at most `limit` bytes.
/// Snappy input is read as xerial when it starts with the xerial magic and as
/// raw snappy otherwise.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, ErrorKind> {
    match codec {
        Compression::None if input.len() > limit => Err(ErrorKind::DecompressedTooLarge { codec, limit }),
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => read_limited(codec, flate2::bufread::GzDecoder::new(input), input.len(), limit),
        Compression::Lz4 => read_limited(codec, lz4_flex::frame::FrameDecoder::new(input), input.len(), limit),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| failed(codec, e))?;
            decoder.window_log_max(zstd_window_log(limit)).map_err(|e| failed(codec, e))?;
            read_limited(codec, decoder, input.len(), limit)
        }
        Compression::Snappy if input.starts_with(&XERIAL_MAGIC) => xerial_decompress(input, limit),
        Compression::Snappy => {
            let mut out = Vec::new();
            raw_snappy_into(input, limit, &mut out)?;
            Ok(out)
        }
    }
}

/// Compresses a records section the way producers do.
pub fn compress(codec: Compression, input: &[u8], snappy: SnappyFraming) -> io::Result<Vec<u8>> {
    match (codec, snappy) {
        (Compression::None, _) => Ok(input.to_vec()),
        (Compression::Gzip, _) => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input)?;
            encoder.finish()
        }
        (Compression::Snappy, SnappyFraming::Raw) => Ok(snap::raw::Encoder::new().compress_vec(input)?),
        (Compression::Snappy, SnappyFraming::Xerial) => xerial_compress(input),
        (Compression::Lz4, _) => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(input)?;
            Ok(encoder.finish()?)
        }
        (Compression::Zstd, _) => zstd::bulk::compress(input, 3),
    }
}

/// Streams a decoder into a Vec, stopping one byte past the limit.
fn read_limited(codec: Compression, decoder: impl Read, input_len: usize, limit: usize) -> Result<Vec<u8>, ErrorKind> {
    // A guess for typical ratios, capped by the limit: growth beyond it is
    // paid for by actual output, never by a declared size.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(&mut out).map_err(|e| failed(codec, e))?;
    if out.len() > limit {
        return Err(ErrorKind::DecompressedTooLarge { codec, limit });
    }
    Ok(out)
}

/// ceil(log2(limit)), within what zstd accepts.
fn zstd_window_log(limit: usize) -> u32 {
    let log = usize::BITS - limit.saturating_sub(1).leading_zeros();
    log.clamp(ZSTD_MIN_WINDOW_LOG, ZSTD_MAX_WINDOW_LOG)
}

fn xerial_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, ErrorKind> {
    let mut rest = input.get(XERIAL_HEADER_LEN..).ok_or_else(|| snappy_failed("xerial header is truncated"))?;
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail.get(..len).ok_or_else(|| snappy_failed("xerial block is truncated"))?;
        raw_snappy_into(block, limit, &mut out)?;
        rest = tail.get(len..).unwrap_or_default();
    }
    if !rest.is_empty() {
        return Err(snappy_failed("xerial block length is truncated"));
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, which may hold at most `limit` bytes.
fn raw_snappy_into(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), ErrorKind> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| failed(codec, e))?;
    let start = out.len();
    if len > limit.saturating_sub(start) {
        return Err(ErrorKind::DecompressedTooLarge { codec, limit });
    }
    out.resize(start + len, 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    let written = snap::raw::Decoder::new().decompress(block, dst).map_err(|e| failed(codec, e))?;
    out.truncate(start + written);
    Ok(())
}

fn xerial_compress(input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + snap::raw::max_compress_len(input.len()));
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1u32.to_be_bytes()); // version
    out.extend_from_slice(&1u32.to_be_bytes()); // minimum compatible version
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_LEN) {
        let block = encoder.compress_vec(chunk)?;
        let len = u32::try_from(block.len()).map_err(|_| io::Error::other("snappy block over 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

fn failed(codec: Compression, e: impl std::fmt::Display) -> ErrorKind {
    ErrorKind::Decompression { codec, message: e.to_string() }
}

fn snappy_failed(message: &str) -> ErrorKind {
    failed(Compression::Snappy, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32).flat_map(|i| format!("{{\"n\": {i}}}").into_bytes()).collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            for framing in [SnappyFraming::Xerial, SnappyFraming::Raw] {
                let packed = compress(codec, &data, framing).unwrap();
                assert_eq!(decompress(codec, &packed, data.len()).unwrap(), data, "{codec} {framing:?}");
            }
        }
        let xerial = compress(Compression::Snappy, &data, SnappyFraming::Xerial).unwrap();
        assert!(xerial.starts_with(&XERIAL_MAGIC));
    }

    #[test]
    fn output_over_the_limit_is_refused() {
        let data = sample();
        for codec in Compression::ALL {
            for framing in [SnappyFraming::Xerial, SnappyFraming::Raw] {
                let packed = compress(codec, &data, framing).unwrap();
                let err = decompress(codec, &packed, data.len() - 1).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!(
                        "{codec} batch decompresses to more than the caller's limit max_decompressed_bytes = {}",
                        data.len() - 1
                    )
                );
            }
        }
    }

    #[test]
    fn garbage_and_truncation_fail_cleanly() {
        let data = sample();
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = compress(codec, &data, SnappyFraming::Xerial).unwrap();
            let cut = &packed[..packed.len() / 2];
            let err = decompress(codec, cut, 1 << 24).unwrap_err();
            assert!(matches!(err, ErrorKind::Decompression { .. }), "{codec}: {err}");
            let err = decompress(codec, b"\x01\x02\x03 definitely not compressed", 1 << 24);
            assert!(err.is_err(), "{codec}");
        }
    }

    #[test]
    fn window_log_follows_the_limit() {
        assert_eq!(zstd_window_log(1), ZSTD_MIN_WINDOW_LOG);
        assert_eq!(zstd_window_log(256 << 20), 28);
        assert_eq!(zstd_window_log((256 << 20) + 1), 29);
        assert_eq!(zstd_window_log(usize::MAX), ZSTD_MAX_WINDOW_LOG);
    }
}
