//! Message compression: gzip and deflate, negotiated with `grpc-encoding` and `grpc-accept-encoding`
//! (<https://github.com/grpc/grpc/blob/master/doc/compression.md>).

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::Status;

/// A message compression algorithm.
///
/// ```
/// use protoless::Compression;
///
/// assert_eq!(Compression::from_name("gzip"), Some(Compression::Gzip));
/// assert_eq!(Compression::Gzip.name(), "gzip");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// gzip (RFC 1952), which every gRPC implementation supports.
    Gzip,
    /// `deflate`, in the zlib format (RFC 1950) that grpcio and grpc-js send under that name.
    Deflate,
}

/// What this side can decompress, for `grpc-accept-encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip,deflate";

impl Compression {
    /// The algorithm a `grpc-encoding` value names; `None` for `identity` and unknown names.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name.trim() {
            "gzip" => Some(Compression::Gzip),
            "deflate" => Some(Compression::Deflate),
            _ => None,
        }
    }

    /// The name used in `grpc-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Deflate => "deflate",
        }
    }

    /// Whether a `grpc-accept-encoding` value lists this algorithm.
    pub(crate) fn accepted_by(self, accept_encoding: &str) -> bool {
        accept_encoding
            .split(',')
            .any(|name| name.trim() == self.name())
    }

    /// Appends `data`, compressed, to `out`.
    pub(crate) fn compress(self, data: &[u8], out: &mut BytesMut) -> Result<(), Status> {
        let level = flate2::Compression::fast();
        let written = match self {
            Compression::Gzip => {
                let mut encoder = GzEncoder::new(out.writer(), level);
                encoder
                    .write_all(data)
                    .and_then(|()| encoder.finish().map(drop))
            }
            Compression::Deflate => {
                let mut encoder = ZlibEncoder::new(out.writer(), level);
                encoder
                    .write_all(data)
                    .and_then(|()| encoder.finish().map(drop))
            }
        };
        written.map_err(|error| {
            Status::internal(format!("{} compression failed: {error}", self.name()))
        })
    }

    /// Decompresses `data`, refusing output longer than `max_size` without producing it.
    pub(crate) fn decompress(self, data: &[u8], max_size: usize) -> Result<Bytes, Status> {
        let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(max_size));
        let limit = u64::try_from(max_size)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let read = match self {
            Compression::Gzip => GzDecoder::new(data).take(limit).read_to_end(&mut out),
            Compression::Deflate => ZlibDecoder::new(data).take(limit).read_to_end(&mut out),
        };
        read.map_err(|error| {
            Status::internal(format!("invalid {} message: {error}", self.name()))
        })?;
        if out.len() > max_size {
            return Err(Status::resource_exhausted(format!(
                "received message decompresses to more than max ({max_size} bytes)"
            )));
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn every_algorithm_round_trips_and_bounds_what_it_inflates() {
        let data = vec![b'a'; 100_000];
        for compression in [Compression::Gzip, Compression::Deflate] {
            let mut compressed = BytesMut::new();
            compression.compress(&data, &mut compressed).unwrap();
            assert!(compressed.len() < 1000, "{} bytes", compressed.len());
            assert_eq!(compression.decompress(&compressed, 100_000).unwrap(), data);
            let bomb = compression.decompress(&compressed, 99_999).unwrap_err();
            assert_eq!(bomb.code(), Code::ResourceExhausted);
            let garbage = compression.decompress(b"not compressed", 10).unwrap_err();
            assert_eq!(garbage.code(), Code::Internal);
        }
    }

    #[test]
    fn deflate_is_the_zlib_format() {
        let mut compressed = BytesMut::new();
        Compression::Deflate
            .compress(b"hello", &mut compressed)
            .unwrap();
        // RFC 1950: CMF 0x78 (deflate, 32 KiB window), and a header checksum divisible by 31.
        assert_eq!(compressed[0], 0x78);
        assert_eq!(u16::from_be_bytes([compressed[0], compressed[1]]) % 31, 0);
        assert_eq!(
            Compression::from_name("deflate"),
            Some(Compression::Deflate)
        );
        assert!(Compression::Deflate.accepted_by(ACCEPT_ENCODING));
    }
}
