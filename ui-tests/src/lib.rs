//! Compile-fail and compile-pass cases of crndm (run by `tests/ui.rs`).
