//! The compile-time experience: every misuse of `#[flow]`, `#[step]` and
//! `#[derive(HasTaskManager)]` in `tests/ui/` fails with the error in its `.stderr` file.
//!
//! Each `.rs` there is one misuse (or one family of them: every error shows in one build),
//! and its `.stderr` is what the user reads. The `.stderr` files hold the wording of
//! rustc 1.95.0 (stable); another rustc may word its own part of the messages differently.
//! Regenerate them with `TRYBUILD=overwrite cargo test --test ui`, then read the diff: each
//! message must tell its reader what to change, on the token to change.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
