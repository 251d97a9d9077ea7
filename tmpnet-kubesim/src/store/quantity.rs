//! Kubernetes resource quantities (`500m`, `1`, `1Gi`, `1e3`) as exact
//! numbers, so two spellings of one amount compare equal as the API server
//! compares them.

/// A quantity in billionths of its unit (`1` is 10^9, `1m` is 10^6);
/// `None` when it is no quantity. Anything finer than a billionth rounds
/// up, as the API server rounds.
pub(super) fn nanos(text: &str) -> Option<i128> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    // The number as an integer `mantissa` times 10^`power`.
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let mut power = -i32::try_from(fraction.len()).ok()?;
    let mut binary = 1i128;
    match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let step = "KMGTPE".find(&suffix[..1])? + 1;
            binary = 1i128 << (10 * step);
        }
        _ => {
            power += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "" => 0,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                exponent => exponent
                    .strip_prefix(['e', 'E'])
                    .filter(|e| !e.is_empty())?
                    .parse::<i32>()
                    .ok()?,
            }
        }
    }
    // Billionths: shift the power by 9, then scale up or divide (rounding up).
    power += 9;
    let value = mantissa.checked_mul(binary)?;
    let scaled = if power >= 0 {
        value.checked_mul(10i128.checked_pow(u32::try_from(power).ok()?)?)?
    } else {
        let divisor = 10i128.checked_pow(power.unsigned_abs())?;
        (value + divisor - 1) / divisor
    };
    Some(if negative { -scaled } else { scaled })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_amount_are_equal() {
        assert_eq!(nanos("1"), nanos("1000m"));
        assert_eq!(nanos("0.5"), nanos("500m"));
        assert_eq!(nanos(".5"), nanos("500m"));
        assert_eq!(nanos("1k"), nanos("1e3"));
        assert_eq!(nanos("1k"), nanos("1E3"));
        assert_eq!(nanos("1Gi"), nanos("1024Mi"));
        assert_eq!(nanos("1Gi"), nanos("1073741824"));
        assert_eq!(nanos("1.5Gi"), nanos("1536Mi"));
        assert_eq!(nanos("1M"), nanos("1000000"));
        assert_eq!(nanos("1u"), nanos("1000n"));
        assert_eq!(nanos("0.1n"), nanos("1n"), "finer than a nano rounds up");
        assert_eq!(nanos("-1"), Some(-1_000_000_000));
        assert_eq!(nanos("1E"), Some(10i128.pow(27)), "E alone is exa");
        assert_ne!(nanos("1Gi"), nanos("1G"));
        assert_ne!(nanos("1"), nanos("1001m"));
    }

    #[test]
    fn what_is_no_quantity_is_none() {
        for bad in ["", "m", "1x", "1..2", "1.2.3", "Gi", "1e", "abc", "1 Gi"] {
            assert_eq!(nanos(bad), None, "{bad}");
        }
    }
}
