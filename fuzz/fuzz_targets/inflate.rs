//! gzip and deflate inflation under the message size bound.
//!
//! Whatever the compressed bytes, inflating them returns at most `max_size` bytes or an error,
//! without first producing more; and what protoless compresses inflates back unchanged.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protoless::__fuzz::{compress, decompress};
use protoless::Compression;

#[derive(Arbitrary, Debug)]
struct Input {
    deflate: bool,
    max_size: u32,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let compression = if input.deflate {
        Compression::Deflate
    } else {
        Compression::Gzip
    };
    // Up to 16 MiB: a bomb past it must be refused, not inflated.
    let max_size = (input.max_size % (16 << 20)) as usize;
    if let Ok(inflated) = decompress(compression, &input.data, max_size) {
        assert!(
            inflated.len() <= max_size,
            "{} bytes past {max_size}",
            inflated.len()
        );
    }
    let compressed = compress(compression, &input.data).expect("compressing into memory works");
    let inflated = decompress(compression, &compressed, input.data.len())
        .expect("what protoless compressed inflates within its own size");
    assert_eq!(&inflated[..], &input.data[..]);
    if !input.data.is_empty() {
        assert!(
            decompress(compression, &compressed, input.data.len() - 1).is_err(),
            "one byte past the bound is refused"
        );
    }
});
