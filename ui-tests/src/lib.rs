//! Compile-fail and compile-pass tests of the protoless macros live in `tests/`.
