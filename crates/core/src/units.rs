//! Human-friendly units used in configuration: sizes (`64KiB`), durations (`2s`) and rates
//! (`100/s`). Each parses from a string once, at config load, into a plain number.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a unit string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

/// A size in bytes: a number, or a number with a unit `B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| UnitError(format!("invalid size '{s}': expected e.g. 64KiB")))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(UnitError(format!(
                    "invalid size unit '{other}' in '{s}': use B, KB, KiB, MB, MiB, GB or GiB"
                )));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| UnitError(format!("size '{s}' is too large")))
    }
}

/// A duration written like `500ms`, `2s`, `1m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationSpec(pub Duration);

impl FromStr for DurationSpec {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        humantime::parse_duration(s.trim())
            .map(DurationSpec)
            .map_err(|e| {
                UnitError(format!(
                    "invalid duration '{s}': {e} (expected e.g. 2s, 500ms)"
                ))
            })
    }
}

/// A rate: a count per period, written `100/s`, `10/m` (per minute) or `1000/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub count: u64,
    /// Per how long.
    pub per: Duration,
}

impl Rate {
    /// The smoothed interval between two admitted events (`10/s` → 100 ms).
    pub fn interval(&self) -> Duration {
        self.per / u32::try_from(self.count).unwrap_or(u32::MAX)
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let err = || {
            UnitError(format!(
                "invalid rate '{s}': expected e.g. 100/s, 10/m, 1000/h"
            ))
        };
        let (count, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u64 = count.trim().parse().map_err(|_| err())?;
        if count == 0 || count > u64::from(u32::MAX) {
            return Err(UnitError(format!(
                "invalid rate '{s}': count must be between 1 and {}",
                u32::MAX
            )));
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(err()),
        };
        Ok(Rate { count, per })
    }
}

// === serde and schema glue: every unit is a string in files (sizes may also be numbers) ===

macro_rules! string_unit {
    ($ty:ty, $name:literal, $pattern:literal, $desc:literal, $display:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw<'a> {
                    Num(u64),
                    Str(Cow<'a, str>),
                }
                match Raw::deserialize(d)? {
                    Raw::Num(n) => n.to_string().parse().map_err(serde::de::Error::custom),
                    Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let render: fn(&$ty) -> String = $display;
                f.write_str(&render(self))
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $desc,
                    "anyOf": [
                        { "type": "string", "pattern": $pattern },
                        { "type": "integer", "minimum": 0 }
                    ]
                })
            }
        }
    };
}

string_unit!(
    ByteSize,
    "ByteSize",
    r"^\s*[0-9]+\s*(B|KB|kB|KiB|MB|MiB|GB|GiB)?\s*$",
    "A size: bytes as a number, or with a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. 64KiB.",
    |v| format!("{}B", v.0)
);
string_unit!(
    DurationSpec,
    "Duration",
    r"^\s*[0-9]",
    "A duration such as 500ms, 2s, 1m, 1h.",
    |v| humantime::format_duration(v.0).to_string()
);
string_unit!(
    Rate,
    "Rate",
    r"^\s*[0-9]+\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$",
    "A rate: count per second (100/s), minute (10/m) or hour (1000/h).",
    |v| format!("{}/{}s", v.count, v.per.as_secs())
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("64KiB".parse::<ByteSize>().unwrap().0, 65536);
        assert_eq!("10MiB".parse::<ByteSize>().unwrap().0, 10 << 20);
        assert_eq!("1KB".parse::<ByteSize>().unwrap().0, 1000);
        assert_eq!("123".parse::<ByteSize>().unwrap().0, 123);
        assert!("12XB".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
        assert!("99999999999999GiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            "2s".parse::<DurationSpec>().unwrap().0,
            Duration::from_secs(2)
        );
        assert_eq!(
            "150ms".parse::<DurationSpec>().unwrap().0,
            Duration::from_millis(150)
        );
        assert!("two seconds".parse::<DurationSpec>().is_err());
    }

    #[test]
    fn rates() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_millis(100));
        let r: Rate = "30/m".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_secs(2));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("10/fortnight".parse::<Rate>().is_err());
        assert!("ten/s".parse::<Rate>().is_err());
    }

    #[test]
    fn serde_accepts_numbers_and_strings() {
        let v: ByteSize = serde_json::from_str("1024").unwrap();
        assert_eq!(v.0, 1024);
        let v: ByteSize = serde_json::from_str("\"2KiB\"").unwrap();
        assert_eq!(v.0, 2048);
        let e = serde_json::from_str::<Rate>("\"fast\"").unwrap_err();
        assert!(e.to_string().contains("invalid rate 'fast'"), "{e}");
    }
}
