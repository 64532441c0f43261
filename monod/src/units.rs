//! Sizes and durations in settings files, written the way people write
//! them: `10MB`, `512KiB` or a plain number of bytes; `5s`, `1m 30s`,
//! `250ms`. Parsing is `bytesize` and `humantime`; this module only adapts
//! them to serde, so a bad value is reported with its file, line and column.

use std::fmt;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Deserializes a byte size from a number or a string such as `10MB`.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct SizeVisitor;
    impl Visitor<'_> for SizeVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a size such as 10MB, 512KiB or a number of bytes")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| b.as_u64())
                .map_err(|e| E::custom(format!("{v:?} is not a size ({e}); write e.g. 10MB or 512KiB")))
        }
    }
    d.deserialize_any(SizeVisitor)
}

/// Deserializes a duration from a string such as `5s` or `1m 30s`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as 5s, 250ms or 1m 30s")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            humantime::parse_duration(v.trim())
                .map_err(|e| E::custom(format!("{v:?} is not a duration ({e}); write e.g. 5s or 250ms")))
        }
    }
    d.deserialize_any(DurationVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(deserialize_with = "size")]
        s: u64,
        #[serde(deserialize_with = "duration")]
        d: Duration,
    }

    fn parse(text: &str) -> Result<T, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn sizes_and_durations() {
        let t = parse("s: 10MiB\nd: 1m 30s\n").unwrap();
        assert_eq!((t.s, t.d), (10 * 1024 * 1024, Duration::from_secs(90)));
        let t = parse("s: 4096\nd: 250ms\n").unwrap();
        assert_eq!((t.s, t.d), (4096, Duration::from_millis(250)));
        assert!(parse("s: ten\nd: 1s\n").unwrap_err().contains("is not a size"));
        assert!(parse("s: 1\nd: 5\n").unwrap_err().contains("a duration such as"));
    }
}
