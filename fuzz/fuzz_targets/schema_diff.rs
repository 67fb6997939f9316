//! The schema diff behind the `.proto` breaking-change check, on arbitrary text.
//!
//! It never panics; a file compared with itself has no breaking change and an empty diff.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protoless::__fuzz::{breaking_changes, line_diff};

#[derive(Arbitrary, Debug)]
struct Input {
    old: String,
    new: String,
}

fuzz_target!(|input: Input| {
    let _ = breaking_changes(&input.old, &input.new);
    let _ = line_diff(&input.old, &input.new);
    assert_eq!(
        breaking_changes(&input.old, &input.old),
        Vec::<String>::new()
    );
    assert_eq!(line_diff(&input.old, &input.old), "");
});
