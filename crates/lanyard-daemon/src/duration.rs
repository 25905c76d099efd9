//! Durations written the way SPIRE operators write them.
//!
//! SPIRE parses durations with Go's `time.ParseDuration`: a sequence of decimal numbers,
//! each with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such as
//! `1h30m`, `300ms` or `1.5h`. Where SPIRE takes integer seconds instead (CLI `-ttl 600`,
//! entry TTLs in JSON), a bare integer is read as seconds; configuration files accept that
//! form too (SPIRE would reject it there; accepting it is harmless).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration parsed from a Go-style string or from integer seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration")]
    Empty,
    /// Negative durations make no sense for TTLs and intervals.
    #[error("negative duration {0:?}")]
    Negative(String),
    /// A number was followed by no unit (only `0` and plain integers may omit it).
    #[error("missing unit in duration {0:?} (use e.g. 1h, 30m, 45s)")]
    MissingUnit(String),
    /// A unit other than ns, us, ms, s, m, h.
    #[error("unknown unit {unit:?} in duration {input:?} (use ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Not a duration at all.
    #[error("invalid duration {0:?} (use e.g. 1h30m, 300ms or integer seconds)")]
    Invalid(String),
    /// Larger than this program can represent.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Self = Self(std::time::Duration::ZERO);

    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of whole minutes.
    pub const fn from_mins(mins: u64) -> Self {
        Self(std::time::Duration::from_secs(mins * 60))
    }

    /// A duration of whole hours.
    pub const fn from_hours(hours: u64) -> Self {
        Self(std::time::Duration::from_secs(hours * 3600))
    }

    /// The standard library duration.
    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// Whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// True for the zero duration.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses a Go duration (`1h30m`, `300ms`) or integer seconds (`600`).
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        if text.starts_with('-') {
            return Err(DurationError::Negative(input.to_owned()));
        }
        let text = text.strip_prefix('+').unwrap_or(text);
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let secs = text
                .parse::<u64>()
                .map_err(|_| DurationError::Overflow(input.to_owned()))?;
            return Ok(Self::from_secs(secs));
        }
        parse_go_units(text, input).map(Self)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(value: std::time::Duration) -> Self {
        Self(value)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(value: Duration) -> Self {
        value.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Duration {
    /// Go-like and compact: `1h30m`, `45s`, `1.5s`, `300ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0;
        if total.is_zero() {
            return f.write_str("0s");
        }
        if total < std::time::Duration::from_secs(1) {
            let nanos = total.subsec_nanos();
            return match nanos {
                n if n % 1_000_000 == 0 => write!(f, "{}ms", n / 1_000_000),
                n if n % 1_000 == 0 => write!(f, "{}us", n / 1_000),
                n => write!(f, "{n}ns"),
            };
        }

        let secs = total.as_secs();
        let (hours, mins, secs) = (secs / 3600, secs / 60 % 60, secs % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if mins > 0 {
            write!(f, "{mins}m")?;
        }
        let nanos = total.subsec_nanos();
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, "{secs}.{}s", fraction.trim_end_matches('0'))
        } else if secs > 0 {
            write!(f, "{secs}s")
        } else {
            Ok(())
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"1h30m\" or integer seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        Duration::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(DurationError::Negative(v.to_string())))
    }
}

fn parse_go_units(text: &str, input: &str) -> Result<std::time::Duration, DurationError> {
    let mut rest = text;
    let mut total_nanos: u128 = 0;

    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(DurationError::Invalid(input.to_owned()));
        }

        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let unit_nanos = unit_in_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_owned(),
            input: input.to_owned(),
        })?;

        total_nanos = total_nanos
            .checked_add(scale(number, unit_nanos, input)?)
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
        rest = next;
    }

    let secs = u64::try_from(total_nanos / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(input.to_owned()))?;
    let nanos = u32::try_from(total_nanos % 1_000_000_000)
        .map_err(|_| DurationError::Overflow(input.to_owned()))?;
    Ok(std::time::Duration::new(secs, nanos))
}

/// `number` (digits with at most one '.') times `unit_nanos`, truncated to whole nanoseconds.
fn scale(number: &str, unit_nanos: u128, input: &str) -> Result<u128, DurationError> {
    let overflow = || DurationError::Overflow(input.to_owned());
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));

    let whole = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().map_err(|_| overflow())?
    };
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;

    let mut divisor: u128 = 1;
    let mut numerator: u128 = 0;
    for digit in fraction.bytes().take(18) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        divisor *= 10;
    }
    nanos = nanos
        .checked_add(numerator * unit_nanos / divisor)
        .ok_or_else(overflow)?;
    Ok(nanos)
}

fn unit_in_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> std::time::Duration {
        Duration::parse(s).expect("valid duration").as_std()
    }

    #[test]
    fn go_style_durations_parse() {
        assert_eq!(d("1h30m"), std::time::Duration::from_secs(5400));
        assert_eq!(d("300ms"), std::time::Duration::from_millis(300));
        assert_eq!(d("72h"), std::time::Duration::from_secs(72 * 3600));
        assert_eq!(d("1.5h"), std::time::Duration::from_secs(5400));
        assert_eq!(d("1h0m0s"), std::time::Duration::from_secs(3600));
        assert_eq!(d("2us"), std::time::Duration::from_micros(2));
        assert_eq!(d("2µs"), std::time::Duration::from_micros(2));
        assert_eq!(d(".5s"), std::time::Duration::from_millis(500));
        assert_eq!(d("0"), std::time::Duration::ZERO);
        assert_eq!(d("+5m"), std::time::Duration::from_secs(300));
    }

    #[test]
    fn integers_are_seconds() {
        assert_eq!(d("600"), std::time::Duration::from_secs(600));
    }

    #[test]
    fn bad_durations_say_why() {
        assert_eq!(Duration::parse(""), Err(DurationError::Empty));
        assert!(matches!(
            Duration::parse("-1h"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            Duration::parse("1.5"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            Duration::parse("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            Duration::parse("h"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            Duration::parse("1..2s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            Duration::parse("99999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn display_is_compact_and_round_trips() {
        for (input, shown) in [
            ("1h30m", "1h30m"),
            ("90m", "1h30m"),
            ("45s", "45s"),
            ("1.5s", "1.5s"),
            ("300ms", "300ms"),
            ("0", "0s"),
            ("24h", "24h"),
            ("1h0m5s", "1h5s"),
        ] {
            let parsed = Duration::parse(input).expect("valid duration");
            assert_eq!(parsed.to_string(), shown);
            assert_eq!(Duration::parse(shown), Ok(parsed));
        }
    }

    #[test]
    fn deserializes_from_strings_and_numbers() {
        let from_str: Duration = serde_json::from_str("\"5m\"").expect("string");
        let from_int: Duration = serde_json::from_str("300").expect("integer");
        assert_eq!(from_str, from_int);
        assert!(serde_json::from_str::<Duration>("-3").is_err());
    }
}
