//! Gas prices, gas limits and fees: pure arithmetic, no floating point in the
//! fee itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most decimal places a gas price may have (cosmos `LegacyDec` precision).
const MAX_SCALE: u32 = 18;

/// A gas price `amount / 10^scale` per gas unit in `denom`, e.g.
/// `0.000001upokt`. Parsed exactly from its decimal string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GasPrice {
    numerator: u128,
    scale: u32,
    denom: String,
}

impl GasPrice {
    /// Parses `<decimal><denom>`, e.g. `0.000001upokt` or `1upokt`.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed price.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Config(format!("gas price {s:?}: {reason}"));
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("no denom"))?;
        let (number, denom) = s.split_at(split);
        if denom.is_empty() || !denom.chars().all(|c| c.is_ascii_alphanumeric() || c == '/') {
            return Err(bad("invalid denom"));
        }
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad("no amount"));
        }
        if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
            return Err(bad("invalid amount"));
        }
        let frac = frac.trim_end_matches('0');
        let scale = u32::try_from(frac.len()).map_err(|_| bad("too many decimals"))?;
        if scale > MAX_SCALE {
            return Err(bad("more than 18 decimals"));
        }
        let digits = format!("{int}{frac}");
        let numerator = if digits.is_empty() {
            0
        } else {
            digits
                .parse::<u128>()
                .map_err(|_| bad("amount too large"))?
        };
        if numerator > 10u128.pow(MAX_SCALE + 6) {
            return Err(bad("amount too large"));
        }
        Ok(GasPrice {
            numerator,
            scale,
            denom: denom.to_owned(),
        })
    }

    /// The denom fees are paid in.
    #[must_use]
    pub fn denom(&self) -> &str {
        &self.denom
    }

    /// Whether the price is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.numerator == 0
    }

    /// `ceil(gas × price)` — the fee the node's minimum-gas-price check
    /// computes, rounded up so it is never short by a fraction.
    #[must_use]
    pub fn fee_for(&self, gas: u64) -> u128 {
        let product = u128::from(gas).saturating_mul(self.numerator);
        product.div_ceil(10u128.pow(self.scale))
    }
}

impl Default for GasPrice {
    fn default() -> Self {
        // 0.000001upokt: what poktroll's docs suggest for mainnet validators.
        GasPrice {
            numerator: 1,
            scale: 6,
            denom: protocol::DENOM.to_owned(),
        }
    }
}

impl fmt::Display for GasPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pow = 10u128.pow(self.scale);
        let int = self.numerator / pow;
        let frac = self.numerator % pow;
        if self.scale == 0 || frac == 0 {
            write!(f, "{int}{}", self.denom)
        } else {
            let frac = format!("{frac:0width$}", width = self.scale as usize);
            write!(f, "{int}.{}{}", frac.trim_end_matches('0'), self.denom)
        }
    }
}

impl fmt::Debug for GasPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GasPrice({self})")
    }
}

impl FromStr for GasPrice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GasPrice::parse(s)
    }
}

impl TryFrom<String> for GasPrice {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        GasPrice::parse(&s)
    }
}

impl From<GasPrice> for String {
    fn from(p: GasPrice) -> String {
        p.to_string()
    }
}

/// The gas limit for a simulated gas use: `ceil(gas_used × adjustment)`.
#[must_use]
pub fn adjusted_gas(gas_used: u64, adjustment: f64) -> u64 {
    let adjusted = (gas_used as f64 * adjustment).ceil();
    if adjusted >= u64::MAX as f64 {
        u64::MAX
    } else if adjusted <= 0.0 {
        0
    } else {
        adjusted as u64
    }
}

/// A fee decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    /// The amount paid, in the gas price denom.
    pub amount: u128,
    /// Whether the computed fee exceeded `max_fee` and was lowered to it.
    pub capped: bool,
}

/// `min(ceil(gas_limit × price), max_fee)`.
#[must_use]
pub fn compute_fee(gas_limit: u64, price: &GasPrice, max_fee: u128) -> Fee {
    let wanted = price.fee_for(gas_limit);
    if wanted > max_fee {
        Fee {
            amount: max_fee,
            capped: true,
        }
    } else {
        Fee {
            amount: wanted,
            capped: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_prices() {
        for (s, printed) in [
            ("0.000001upokt", "0.000001upokt"),
            ("1upokt", "1upokt"),
            ("0.00001upokt", "0.00001upokt"),
            ("1.5upokt", "1.5upokt"),
            ("0.0100upokt", "0.01upokt"),
            (".5upokt", "0.5upokt"),
            ("0upokt", "0upokt"),
        ] {
            assert_eq!(GasPrice::parse(s).unwrap().to_string(), printed, "{s}");
        }
        for s in [
            "upokt",
            "0.1",
            "",
            "1.2.3upokt",
            "-1upokt",
            "1 upokt",
            "0.0000000000000000001upokt",
        ] {
            assert!(GasPrice::parse(s).is_err(), "{s:?} must be rejected");
        }
        assert_eq!(GasPrice::default().to_string(), "0.000001upokt");
    }

    #[test]
    fn fee_is_ceiling_of_gas_times_price() {
        let p = GasPrice::parse("0.000001upokt").unwrap();
        assert_eq!(p.fee_for(0), 0);
        assert_eq!(p.fee_for(1), 1);
        assert_eq!(p.fee_for(200_000), 1);
        assert_eq!(p.fee_for(1_000_000), 1);
        assert_eq!(p.fee_for(1_000_001), 2);
        let p = GasPrice::parse("1upokt").unwrap();
        assert_eq!(p.fee_for(200_000), 200_000);
        let p = GasPrice::parse("0.025upokt").unwrap();
        assert_eq!(p.fee_for(100_000), 2_500);
        assert_eq!(p.fee_for(100_001), 2_501);
        assert_eq!(p.fee_for(u64::MAX), u128::from(u64::MAX).div_ceil(40));
    }

    #[test]
    fn fee_is_capped() {
        let p = GasPrice::parse("1upokt").unwrap();
        assert_eq!(
            compute_fee(200_000, &p, 1_000_000),
            Fee {
                amount: 200_000,
                capped: false
            }
        );
        assert_eq!(
            compute_fee(2_000_000, &p, 1_000_000),
            Fee {
                amount: 1_000_000,
                capped: true
            }
        );
        assert!(!compute_fee(1_000_000, &p, 1_000_000).capped);
    }

    #[test]
    fn gas_adjustment_rounds_up() {
        assert_eq!(adjusted_gas(100_000, 1.7), 170_000);
        assert_eq!(adjusted_gas(100_001, 1.7), 170_002);
        assert_eq!(adjusted_gas(3, 1.5), 5);
        assert_eq!(adjusted_gas(0, 1.7), 0);
        assert_eq!(adjusted_gas(u64::MAX, 2.0), u64::MAX);
    }

    #[test]
    fn serde_round_trip() {
        #[derive(Serialize, Deserialize)]
        struct W {
            p: GasPrice,
        }
        let w: W = serde_json::from_str(r#"{"p":"0.02upokt"}"#).unwrap();
        assert_eq!(w.p.fee_for(100), 2);
        assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"p":"0.02upokt"}"#);
        assert!(serde_json::from_str::<W>(r#"{"p":"x"}"#).is_err());
    }
}
