//! Compile-fail and compile-pass tests of the macros: one mistake per file in `tests/fail/`,
//! with the compiler's output committed next to it (`.stderr`) and reviewed like code.
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p protoless-ui-tests` and read
//! the diff before committing.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/fail/*.rs");
    cases.pass("tests/pass/*.rs");
}
