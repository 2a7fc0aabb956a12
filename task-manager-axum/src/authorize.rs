//! Who may see or cancel which task: the hook the routes ask before doing anything.

use axum::http::{header, HeaderMap};
use task_manager_core::TaskId;

/// What a request wants to do; the routes ask [`Authorize::authorize`] about it before they
/// read or change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// List the running tasks (`GET /`). Each listed task is then also checked with
    /// [`Action::See`]: tasks the request may not see are left out of the list.
    List,
    /// See one task: its status (`GET /{id}`) or its events (`GET /{id}/events`).
    See(TaskId),
    /// Cancel one task (`DELETE /{id}`).
    Cancel(TaskId),
}

/// Decides, per request and per action, whether it is allowed. A refused request is
/// answered `403 Forbidden` and changes nothing.
///
/// Any `Fn(&HeaderMap, Action) -> bool` is an `Authorize`:
///
/// ```
/// use task_manager_axum::{Action, Authorize};
/// use axum::http::HeaderMap;
///
/// // Everyone may look; only requests with the admin header may cancel.
/// let authorize = |headers: &HeaderMap, action: Action| match action {
///     Action::Cancel(_) => headers.contains_key("x-admin"),
///     _ => true,
/// };
/// assert!(authorize.authorize(&HeaderMap::new(), Action::List));
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Whether the request with these headers may do `action`.
    fn authorize(&self, headers: &HeaderMap, action: Action) -> bool;
}

impl<F> Authorize for F
where
    F: Fn(&HeaderMap, Action) -> bool + Send + Sync + 'static,
{
    fn authorize(&self, headers: &HeaderMap, action: Action) -> bool {
        self(headers, action)
    }
}

/// Allows every request: for a service behind its own gate, or for tests.
///
/// ```
/// use task_manager_axum::{task_routes, AllowAll};
/// use task_manager_core::TaskManager;
///
/// let router: axum::Router = task_routes(TaskManager::new(), AllowAll);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    fn authorize(&self, _headers: &HeaderMap, _action: Action) -> bool {
        true
    }
}

/// Allows the requests that carry `Authorization: Bearer <token>` with this token, for every
/// action. The comparison takes the same time wherever the first difference is.
///
/// ```
/// use task_manager_axum::{Action, Authorize, BearerToken};
/// use axum::http::{header, HeaderMap, HeaderValue};
///
/// let check = BearerToken::new("s3cret");
/// let mut headers = HeaderMap::new();
/// assert!(!check.authorize(&headers, Action::List));
/// headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
/// assert!(check.authorize(&headers, Action::List));
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: Box<[u8]>,
}

impl BearerToken {
    /// A check for this token.
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken {
            token: token.into().into_bytes().into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken").finish_non_exhaustive()
    }
}

impl Authorize for BearerToken {
    fn authorize(&self, headers: &HeaderMap, _action: Action) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let value = value.as_bytes();
        // The scheme is case-insensitive (RFC 9110, 11.1).
        let Some((scheme, given)) = value.split_at_checked(7) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer ") && equal_in_constant_time(given, &self.token)
    }
}

/// Whether `a == b`, looking at every byte of the expected one whatever the input.
fn equal_in_constant_time(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(given.len() != expected.len());
    for (index, byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(index).copied().unwrap_or(!byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn bearer_token_accepts_only_its_token() {
        let check = BearerToken::new("abc");
        let id = TaskId::new();
        assert!(check.authorize(&with("Bearer abc"), Action::Cancel(id)));
        assert!(check.authorize(&with("bearer abc"), Action::See(id)));
        assert!(!check.authorize(&with("Bearer abd"), Action::List));
        assert!(!check.authorize(&with("Bearer ab"), Action::List));
        assert!(!check.authorize(&with("Bearer abcd"), Action::List));
        assert!(!check.authorize(&with("Basic abc"), Action::List));
        assert!(!check.authorize(&with("Bearer"), Action::List));
        assert!(!check.authorize(&HeaderMap::new(), Action::List));
    }
}
