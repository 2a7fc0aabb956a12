//! The queue add-on's `#[flow]` and `#[step]` keys, misused: each is a compile error on the
//! token at fault, saying the fix. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test queue_ui` and review the diff.

#[test]
fn misused_queue_keys_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/queue_ui/*.rs");
}
