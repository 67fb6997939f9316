//! The `grpc-timeout` header: at most eight digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).

use std::time::Duration;

const MAX_DIGITS: u64 = 99_999_999;

/// Formats `timeout` with the finest unit that fits in eight digits, rounding up so that the
/// server never sees a longer deadline than the client's.
pub(crate) fn format(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per_unit, unit) in units {
        let value = nanos.div_ceil(per_unit);
        if value <= u128::from(MAX_DIGITS) {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX_DIGITS}H")
}

/// Parses a `grpc-timeout` value; `None` when malformed.
pub(crate) fn parse(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_the_finest_unit_that_fits() {
        assert_eq!(format(Duration::from_nanos(5)), "5n");
        assert_eq!(format(Duration::from_millis(100)), "100000u");
        assert_eq!(format(Duration::from_micros(99_999_999)), "99999999u");
        assert_eq!(format(Duration::from_secs(1)), "1000000u");
        assert_eq!(format(Duration::from_secs(3600 * 24 * 365)), "31536000S");
        assert_eq!(
            format(Duration::from_secs(3600 * 24 * 365 * 10)),
            "5256000M"
        );
        assert_eq!(format(Duration::MAX), "99999999H");
    }

    #[test]
    fn parses_every_unit_and_refuses_malformed_values() {
        assert_eq!(parse(b"100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in [
            &b""[..],
            b"m",
            b"123456789m",
            b"10x",
            b"-1S",
            b"1.5S",
            b" 1S",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formatted_values_parse_back_no_shorter() {
        for nanos in [1u64, 999, 1_000_001, 123_456_789_012, 7_200_000_000_000] {
            let timeout = Duration::from_nanos(nanos);
            assert!(parse(format(timeout).as_bytes()).unwrap() >= timeout);
        }
    }
}
