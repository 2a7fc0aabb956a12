//! Task ids: 128 bits, unique across processes, printed and parsed as UUID text.

use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The identity of one task, the key under which a [`TaskManager`](crate::TaskManager)
/// registers it and under which anyone can cancel it.
///
/// Ids made by [`TaskId::new`] are UUIDs of version 8: 60 random bits chosen once per process
/// and a 62-bit counter, so ids from different processes (or machines) do not collide and
/// making one costs a single atomic increment. An id can also come from the user, for instance
/// a request id, as long as it is 128 bits: any UUID text parses.
///
/// ```
/// use task_manager_core::TaskId;
///
/// let id = TaskId::new();
/// let text = id.to_string();                     // "6f1c2a9e-0b4d-8c3e-8000-000000000001"
/// assert_eq!(text.parse::<TaskId>().unwrap(), id);
/// assert!("not-an-id".parse::<TaskId>().is_err());
/// ```
// Two halves rather than one `u128`: a `u128` is aligned to 16 bytes, and would pad every
// struct holding an id (a task's runner among them) to a multiple of 16. The derived order
// (high half first) is the order of the 128-bit value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskId {
    high: u64,
    low: u64,
}

/// Why a string is not a task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a task id: {problem} (expected a UUID such as `67e55044-10b1-426f-9247-bb680e5fe0c8`, or 32 hex digits)")]
pub struct ParseTaskIdError {
    input: String,
    problem: &'static str,
}

impl TaskId {
    /// A fresh id, unique across processes.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nonce = process_nonce();
        // Layout (RFC 9562 UUIDv8): 48 nonce bits | version 8 | 12 nonce bits | variant 0b10 | 62 counter bits.
        let high = (nonce & 0xFFFF_FFFF_FFFF_0000) | 0x8000 | (nonce & 0x0FFF);
        let low = (0b10 << 62) | (count & ((1 << 62) - 1));
        TaskId { high, low }
    }

    /// The id with these 128 bits (for instance a request id the caller already has).
    pub const fn from_u128(value: u128) -> Self {
        TaskId {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }

    /// The 128 bits of this id.
    pub const fn as_u128(self) -> u128 {
        (self.high as u128) << 64 | self.low as u128
    }

    /// Parses UUID text (`8-4-4-4-12` hex digits, any case, optionally in braces or with a
    /// `urn:uuid:` prefix) or 32 bare hex digits.
    pub fn parse(text: &str) -> Result<Self, ParseTaskIdError> {
        let fail = |problem| ParseTaskIdError {
            input: text.chars().take(80).collect(),
            problem,
        };
        let trimmed = text.strip_prefix("urn:uuid:").unwrap_or(text);
        let trimmed = match trimmed.strip_prefix('{') {
            Some(inner) => inner
                .strip_suffix('}')
                .ok_or_else(|| fail("unbalanced brace"))?,
            None => trimmed,
        };
        let hyphenated = trimmed.len() == 36;
        if hyphenated {
            let groups_ok = [8, 13, 18, 23]
                .iter()
                .all(|&at| trimmed.as_bytes()[at] == b'-');
            if !groups_ok {
                return Err(fail("hyphens must separate groups of 8-4-4-4-12 digits"));
            }
        } else if trimmed.len() != 32 {
            return Err(fail("wrong length"));
        }
        let mut value: u128 = 0;
        let mut digits = 0;
        for byte in trimmed.bytes().filter(|&b| !(hyphenated && b == b'-')) {
            let digit = (byte as char)
                .to_digit(16)
                .ok_or_else(|| fail("not a hex digit"))?;
            value = value << 4 | u128::from(digit);
            digits += 1;
        }
        if digits != 32 {
            return Err(fail("hyphens must separate groups of 8-4-4-4-12 digits"));
        }
        Ok(TaskId::from_u128(value))
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for TaskId {
    type Err = ParseTaskIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl From<u128> for TaskId {
    fn from(value: u128) -> Self {
        TaskId::from_u128(value)
    }
}

impl std::hash::Hash for TaskId {
    /// As the 128-bit value (the registry's hasher folds it in one step).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.as_u128());
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.as_u128();
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xFFFF_FFFF_FFFF
        )
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// 64 random bits chosen once per process. `RandomState` is seeded from the operating
/// system's randomness, which saves a dependency on a random-number crate; the pid and the
/// clock are mixed in so that two processes never share a nonce even if that seed repeated.
fn process_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
        {
            hasher.write_u128(since_epoch.as_nanos());
        }
        hasher.finish()
    })
}

/// Ids are already unique 128-bit values: folding and one multiply is all the hashing they
/// need (SipHash would cost more than the rest of a registry insert).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u128(&mut self, value: u128) {
        let folded = (value as u64) ^ ((value >> 64) as u64);
        self.0 = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // Hashbrown takes the bucket from the low bits and a tag from the top seven.
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_uuid_v8() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "8", "version nibble");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant bits"
        );
    }

    #[test]
    fn orders_and_hashes_as_its_128_bit_value() {
        use std::hash::{BuildHasher, BuildHasherDefault};

        let values = [
            0u128,
            1,
            u128::from(u64::MAX),
            1 << 64,
            (1 << 64) + 1,
            u128::MAX,
        ];
        for a in values {
            for b in values {
                let (x, y) = (TaskId::from_u128(a), TaskId::from_u128(b));
                assert_eq!(x.cmp(&y), a.cmp(&b), "{a:x} vs {b:x}");
            }
            let id = TaskId::from_u128(a);
            assert_eq!(id.as_u128(), a);
            // The registry's hasher sees the same single 128-bit write as before the split.
            let hasher = BuildHasherDefault::<IdHasher>::default();
            let mut by_value = hasher.build_hasher();
            std::hash::Hasher::write_u128(&mut by_value, a);
            assert_eq!(hasher.hash_one(id), std::hash::Hasher::finish(&by_value));
        }
    }

    #[test]
    fn round_trips_through_text() {
        let id = TaskId::new();
        assert_eq!(id.to_string().parse::<TaskId>(), Ok(id));
        let user = "67E55044-10B1-426F-9247-BB680E5FE0C8";
        let parsed: TaskId = user.parse().unwrap();
        assert_eq!(parsed.to_string(), user.to_lowercase());
        assert_eq!(
            TaskId::parse("67e5504410b1426f9247bb680e5fe0c8"),
            Ok(parsed)
        );
        assert_eq!(
            TaskId::parse("{67e55044-10b1-426f-9247-bb680e5fe0c8}"),
            Ok(parsed)
        );
        assert_eq!(
            TaskId::parse("urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8"),
            Ok(parsed)
        );
    }

    #[test]
    fn malformed_text_is_a_typed_error() {
        for bad in [
            "",
            "req-42",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0cz",
            "67e5504410b1-426f-9247-bb680e5fe0c8-",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fé0c",
        ] {
            let err = TaskId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("is not a task id"), "{err}");
        }
    }
}
