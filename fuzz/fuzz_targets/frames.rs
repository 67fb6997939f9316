//! The gRPC message-frame decoder under arbitrary chunk splits.
//!
//! A byte stream gives the same messages, the same error and the same leftover whatever DATA
//! frame boundaries it arrived in; no message exceeds the size limit, compressed or not.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protoless::__fuzz::decode_frames;
use protoless::Compression;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Cut points, as offsets into the stream (out-of-range ones are ignored).
    cuts: Vec<u16>,
    /// The size limit, small enough that the limit is exercised.
    max_size: u16,
    /// The negotiated `grpc-encoding`: none, gzip or deflate.
    compression: u8,
    stream: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let compression = match input.compression % 3 {
        0 => None,
        1 => Some(Compression::Gzip),
        _ => Some(Compression::Deflate),
    };
    let max_size = usize::from(input.max_size);
    let mut cuts: Vec<usize> = input.cuts.iter().map(|&cut| usize::from(cut)).collect();
    cuts.sort_unstable();
    let whole = decode_frames(&input.stream, &[], max_size, compression);
    let split = decode_frames(&input.stream, &cuts, max_size, compression);
    let byte_by_byte: Vec<usize> = (1..input.stream.len()).collect();
    let trickled = decode_frames(&input.stream, &byte_by_byte, max_size, compression);
    for other in [&split, &trickled] {
        assert_eq!(whole.0, other.0, "the same messages whatever the split");
        assert_eq!(
            whole
                .1
                .as_ref()
                .map(|status| (status.code(), status.message().to_owned())),
            other
                .1
                .as_ref()
                .map(|status| (status.code(), status.message().to_owned())),
            "the same error whatever the split"
        );
        assert_eq!(whole.2, other.2, "the same leftover whatever the split");
    }
    let mut wire = 0;
    for (message, wire_len) in &whole.0 {
        assert!(
            message.len() <= max_size,
            "a message past the limit got through"
        );
        wire += wire_len;
    }
    assert!(
        wire <= input.stream.len(),
        "more wire bytes counted than received"
    );
    if whole.1.is_none() {
        assert_eq!(
            whole.2,
            wire < input.stream.len(),
            "leftover means bytes not yet framed"
        );
    }
});
