//! The `grpc-timeout` header: an ASCII integer of at most 8 digits and a unit (`H` hours, `M`
//! minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds), per the gRPC
//! HTTP/2 protocol.

use std::time::Duration;

/// The timeout `value` asks for; `None` when it is not a valid `grpc-timeout`.
pub fn parse(value: &[u8]) -> Option<Duration> {
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
    fn parses_every_unit_and_refuses_the_rest() {
        assert_eq!(parse(b"1m"), Some(Duration::from_millis(1)));
        assert_eq!(parse(b"2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse(b"3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse(b"500u"), Some(Duration::from_micros(500)));
        assert_eq!(parse(b"0n"), Some(Duration::ZERO));
        assert_eq!(parse(b"99999999S"), Some(Duration::from_secs(99_999_999)));
        for bad in [
            &b""[..],
            b"m",
            b"10",
            b"1x",
            b"-1S",
            b"123456789S",
            b"1.5S",
            b" 1S",
            b"1 S",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
