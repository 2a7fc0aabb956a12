//! Duration literals in attributes: `"30s"`, `"250ms"`, `"1m 30s"`, `"2h"`.

use std::time::Duration;

/// Parses a duration literal: one or more `<integer><unit>` parts, optionally separated by
/// spaces, with units `ns`, `us`, `ms`, `s`, `m`, `h`. Zero is refused (a zero deadline
/// would cancel every task before its first step).
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let total = parse_any(text)?;
    if total.is_zero() {
        return Err("a zero timeout would cancel every task before it starts".into());
    }
    Ok(total)
}

/// Parses a cleanup deadline: as [`parse`], with its own reason to refuse zero.
pub(crate) fn parse_cleanup(text: &str) -> Result<Duration, String> {
    let total = parse_any(text)?;
    if total.is_zero() {
        return Err("a zero deadline would drop every cleanup before it runs".into());
    }
    Ok(total)
}

/// Parses the max wait of a flow's queue: as [`parse`], with its own reason to refuse zero.
pub(crate) fn parse_max_wait(text: &str) -> Result<Duration, String> {
    let total = parse_any(text)?;
    if total.is_zero() {
        return Err("a zero max wait would refuse every task that has to wait".into());
    }
    Ok(total)
}

/// Parses a step's time limit (`#[step(timeout = "..")]`): as [`parse`], with its own reason
/// to refuse zero.
pub(crate) fn parse_step_timeout(text: &str) -> Result<Duration, String> {
    let total = parse_any(text)?;
    if total.is_zero() {
        return Err("a zero time limit would stop every attempt before it starts".into());
    }
    Ok(total)
}

fn parse_any(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("it is empty".into());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` is too large", &rest[..digits]))?;
        rest = &rest[digits..];
        if rest.starts_with('.') {
            return Err(format!(
                "`{text}` has a fraction; use a smaller unit instead (\"1500ms\", not \"1.5s\")"
            ));
        }
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let part = match unit {
            "ns" => Duration::from_nanos(value),
            "us" => Duration::from_micros(value),
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            "" => return Err(format!("`{value}` has no unit")),
            other => return Err(format!("`{other}` is not a unit")),
        };
        total = total.checked_add(part).ok_or("it is too long")?;
    }
    if u64::try_from(total.as_nanos()).is_err() {
        return Err("it is too long (at most about 584 years)".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::{parse, parse_cleanup, parse_max_wait, parse_step_timeout};
    use std::time::Duration;

    #[test]
    fn accepts_units_and_sums() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("5us"), Ok(Duration::from_micros(5)));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "30",
            "s",
            "3 parsecs",
            "0s",
            "1.5s",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cleanup_deadlines_refuse_zero_with_their_own_reason() {
        assert_eq!(parse_cleanup("5s"), Ok(Duration::from_secs(5)));
        let zero = parse_cleanup("0ms").unwrap_err();
        assert!(zero.contains("cleanup"), "{zero}");
    }

    #[test]
    fn step_timeouts_refuse_zero_with_their_own_reason() {
        assert_eq!(parse_step_timeout("2s"), Ok(Duration::from_secs(2)));
        let zero = parse_step_timeout("0s").unwrap_err();
        assert!(zero.contains("attempt"), "{zero}");
        assert!(parse_step_timeout("2").is_err());
    }

    #[test]
    fn max_waits_refuse_zero_with_their_own_reason() {
        assert_eq!(parse_max_wait("1m 30s"), Ok(Duration::from_secs(90)));
        let zero = parse_max_wait("0s").unwrap_err();
        assert!(zero.contains("max wait"), "{zero}");
    }
}
