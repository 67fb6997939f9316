//! Message compression: gzip, negotiated with `grpc-encoding` and `grpc-accept-encoding`
//! (<https://github.com/grpc/grpc/blob/master/doc/compression.md>).

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

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
}

/// What this side can decompress, for `grpc-accept-encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip";

impl Compression {
    /// The algorithm a `grpc-encoding` value names; `None` for `identity` and unknown names.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name.trim() {
            "gzip" => Some(Compression::Gzip),
            _ => None,
        }
    }

    /// The name used in `grpc-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
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
        match self {
            Compression::Gzip => {
                let mut encoder = GzEncoder::new(out.writer(), flate2::Compression::fast());
                encoder
                    .write_all(data)
                    .and_then(|()| encoder.finish().map(drop))
                    .map_err(|error| Status::internal(format!("gzip compression failed: {error}")))
            }
        }
    }

    /// Decompresses `data`, refusing output longer than `max_size` without producing it.
    pub(crate) fn decompress(self, data: &[u8], max_size: usize) -> Result<Bytes, Status> {
        match self {
            Compression::Gzip => {
                let mut out = Vec::with_capacity(data.len().saturating_mul(2).min(max_size));
                let limit = u64::try_from(max_size)
                    .unwrap_or(u64::MAX)
                    .saturating_add(1);
                GzDecoder::new(data)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|error| Status::internal(format!("invalid gzip message: {error}")))?;
                if out.len() > max_size {
                    return Err(Status::resource_exhausted(format!(
                        "received message decompresses to more than max ({max_size} bytes)"
                    )));
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn gzip_round_trips_and_bounds_what_it_inflates() {
        let data = vec![b'a'; 100_000];
        let mut compressed = BytesMut::new();
        Compression::Gzip.compress(&data, &mut compressed).unwrap();
        assert!(compressed.len() < 1000, "{} bytes", compressed.len());
        assert_eq!(
            Compression::Gzip.decompress(&compressed, 100_000).unwrap(),
            data
        );
        let bomb = Compression::Gzip
            .decompress(&compressed, 99_999)
            .unwrap_err();
        assert_eq!(bomb.code(), Code::ResourceExhausted);
        assert_eq!(
            Compression::Gzip
                .decompress(b"not gzip", 10)
                .unwrap_err()
                .code(),
            Code::Internal
        );
    }
}
