//! Cancel reasons and sources as columns.
//!
//! A reason is a kind (`text`: `requested`, `timeout`, ...) plus, for `Requested`, its message
//! as `bytea`: the message is user input, and PostgreSQL's `text` cannot hold a NUL, so it is
//! stored as its UTF-8 bytes, exactly, rather than escaped (an escape every reader would have
//! to know). `QueueWaitExceeded` keeps its max wait in microseconds.

use std::borrow::Cow;
use std::time::Duration;

use task_manager_core::{CancelReason, CancelSource};

use crate::error::StoreError;

/// A reason in its columns' form.
pub(crate) struct ReasonColumns<'a> {
    pub(crate) kind: &'static str,
    pub(crate) message: Option<&'a [u8]>,
    pub(crate) max_wait_us: Option<i64>,
}

pub(crate) fn encode_reason(reason: &CancelReason) -> Result<ReasonColumns<'_>, StoreError> {
    let plain = |kind| ReasonColumns {
        kind,
        message: None,
        max_wait_us: None,
    };
    Ok(match reason {
        CancelReason::Requested(message) => ReasonColumns {
            kind: "requested",
            message: Some(message.as_bytes()),
            max_wait_us: None,
        },
        CancelReason::Timeout => plain("timeout"),
        CancelReason::HandleDropped => plain("handle_dropped"),
        CancelReason::Shutdown => plain("shutdown"),
        CancelReason::QueueWaitExceeded { max_wait } => ReasonColumns {
            kind: "queue_wait_exceeded",
            message: None,
            max_wait_us: Some(micros(*max_wait)),
        },
        CancelReason::StepPanicked => plain("step_panicked"),
        CancelReason::OwnerLost { instance } => ReasonColumns {
            kind: "owner_lost",
            message: Some(instance.as_bytes()),
            max_wait_us: None,
        },
        other => {
            return Err(StoreError::Unsupported {
                what: "cancel reason",
                value: format!("{other:?}"),
            })
        }
    })
}

pub(crate) fn decode_reason(
    kind: &str,
    message: Option<Vec<u8>>,
    max_wait_us: Option<i64>,
) -> Result<CancelReason, String> {
    Ok(match kind {
        "requested" => {
            let bytes = message.ok_or("a `requested` reason without its message")?;
            let text = String::from_utf8(bytes)
                .map_err(|_| "a reason message that is not UTF-8".to_owned())?;
            CancelReason::Requested(Cow::Owned(text))
        }
        "timeout" => CancelReason::Timeout,
        "handle_dropped" => CancelReason::HandleDropped,
        "shutdown" => CancelReason::Shutdown,
        "queue_wait_exceeded" => CancelReason::QueueWaitExceeded {
            max_wait: duration(max_wait_us.ok_or("a queue wait reason without its max wait")?),
        },
        "step_panicked" => CancelReason::StepPanicked,
        "owner_lost" => {
            let bytes = message.ok_or("an `owner_lost` reason without its instance")?;
            let instance = String::from_utf8(bytes)
                .map_err(|_| "an instance name that is not UTF-8".to_owned())?;
            CancelReason::owner_lost(instance)
        }
        other => return Err(format!("unknown cancel reason kind `{other}`")),
    })
}

pub(crate) fn decode_source(text: &str) -> Result<CancelSource, String> {
    CancelSource::from_name(text).ok_or_else(|| format!("unknown cancel source `{text}`"))
}

/// A duration in whole microseconds, saturating (a bigint holds 292,000 years of them).
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The inverse of [`micros`]; a negative count (never written) reads as zero.
pub(crate) fn duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips() {
        for reason in [
            CancelReason::from("it's \"quoted\"\0 and \u{1F680}"),
            CancelReason::from(""),
            CancelReason::Timeout,
            CancelReason::HandleDropped,
            CancelReason::Shutdown,
            CancelReason::QueueWaitExceeded {
                max_wait: Duration::from_micros(1_500_001),
            },
            CancelReason::StepPanicked,
            CancelReason::owner_lost("api-1"),
        ] {
            let columns = encode_reason(&reason).unwrap();
            let back = decode_reason(
                columns.kind,
                columns.message.map(<[u8]>::to_vec),
                columns.max_wait_us,
            )
            .unwrap();
            assert_eq!(back, reason);
        }
    }

    #[test]
    fn every_source_round_trips() {
        for source in [
            CancelSource::Request,
            CancelSource::CancelAll,
            CancelSource::HandleDropped,
            CancelSource::Timeout,
            CancelSource::Shutdown,
            CancelSource::MaxWait,
            CancelSource::OwnerLost,
        ] {
            assert_eq!(decode_source(source.name()).unwrap(), source);
        }
    }
}
