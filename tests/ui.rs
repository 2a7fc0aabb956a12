//! The compile-time experience: every misuse of `#[flow]`, `#[step]` and
//! `#[derive(HasTaskManager)]` in `tests/ui/` fails with the error in its `.stderr` file.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui` on the
//! pinned toolchain (`rust-toolchain.toml` is not used: the machine's stable writes them),
//! then read the diff: each message must tell the reader what to change.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
