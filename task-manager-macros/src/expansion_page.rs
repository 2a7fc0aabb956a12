//! Keeps the page "What `#[flow]` writes" (in `task-manager-core/docs/flow_expansion.md`,
//! shown in the docs of `task_manager_core::flow`) honest: the code written by hand there
//! must be, token for token, what the macros write for the example above it. (The page's
//! code blocks also run as doctests of `task-manager-core`.)

use proc_macro2::{Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{File, Item, ItemImpl};

const PAGE: &str = include_str!("../../task-manager-core/docs/flow_expansion.md");

/// The page's ```rust blocks, with rustdoc's hidden-line markers (`# `) taken off.
fn rust_blocks(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```rust") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), code) => {
                let shown = match code {
                    "#" => "",
                    _ => code.strip_prefix("# ").unwrap_or(line),
                };
                block.push_str(shown);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn items(block: &str) -> Vec<Item> {
    syn::parse_str::<File>(block)
        .expect("a code block of the page parses")
        .items
}

/// Tokens as text: comments and layout are not tokens, and neither (here) is a trailing
/// comma, which rustfmt adds where it breaks a list over lines.
fn text(tokens: impl ToTokens) -> String {
    without_trailing_commas(tokens.to_token_stream()).to_string()
}

/// Drops each `,` that ends a group or comes before a `>` (the end of a generic list).
fn without_trailing_commas(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let ends_list = |index: usize| match trees.get(index + 1) {
        None => true,
        Some(TokenTree::Punct(next)) => next.as_char() == '>',
        Some(_) => false,
    };
    let trailing: Vec<bool> = (0..trees.len())
        .map(|index| {
            matches!(&trees[index], TokenTree::Punct(punct) if punct.as_char() == ',')
                && ends_list(index)
        })
        .collect();
    trees
        .into_iter()
        .zip(trailing)
        .filter_map(|(tree, trailing)| match tree {
            _ if trailing => None,
            TokenTree::Group(group) => {
                let mut inner =
                    Group::new(group.delimiter(), without_trailing_commas(group.stream()));
                inner.set_span(group.span());
                Some(TokenTree::Group(inner))
            }
            other => Some(other),
        })
        .collect()
}

#[test]
fn the_expansion_page_is_what_the_macros_write() {
    let blocks = rust_blocks(PAGE);
    assert_eq!(
        blocks.len(),
        2,
        "the page has the example and its expansion"
    );
    let example = items(&blocks[0]);
    let expanded = items(&blocks[1]);

    let flow_block = example
        .iter()
        .find_map(|item| match item {
            Item::Impl(block) if block.attrs.iter().any(|attr| attr.path().is_ident("flow")) => {
                Some(block.clone())
            }
            _ => None,
        })
        .expect("the example has a #[flow] block");
    let manager = example
        .iter()
        .find_map(|item| match item {
            Item::Struct(manager) if manager.ident == "MyTaskManager" => Some(manager.clone()),
            _ => None,
        })
        .expect("the example has the manager struct");

    let mut flow_item = flow_block.clone();
    let flow_attr = flow_item.attrs.remove(0);
    let flow_args = flow_attr
        .meta
        .require_list()
        .expect("#[flow(..)]")
        .tokens
        .clone();
    let written_flow = crate::expand::flow(flow_args, flow_item.into_token_stream());
    let written_derive = crate::derive::has_task_manager(manager.into_token_stream());

    let impls: Vec<&ItemImpl> = expanded
        .iter()
        .filter_map(|item| match item {
            Item::Impl(block) => Some(block),
            _ => None,
        })
        .collect();
    let [derive_impl, user_block, execute_method] = impls.as_slice() else {
        panic!("the expansion has three impl blocks, found {}", impls.len());
    };
    assert_eq!(text(written_derive), text(derive_impl));
    let mut by_hand = TokenStream::new();
    user_block.to_tokens(&mut by_hand);
    execute_method.to_tokens(&mut by_hand);
    assert_eq!(text(written_flow), text(by_hand));
}
