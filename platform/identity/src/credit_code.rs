//! The unified social credit code of GB 32100-2015: 18 characters from a
//! 31-character alphabet (digits and capitals without I, O, Z, S, V), the
//! last a check character.

use std::fmt;

/// Why a credit code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    /// Not 18 characters.
    #[error("统一社会信用代码应为18位 (a unified social credit code has 18 characters, got {0})")]
    Length(usize),
    /// A character outside the code's alphabet.
    #[error("统一社会信用代码含非法字符 {0:?} (invalid character {0:?} in the credit code)")]
    Character(char),
    /// The check character does not match.
    #[error("统一社会信用代码校验位错误 (the credit code's check character is wrong)")]
    CheckCharacter,
}

const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A valid unified social credit code, upper-cased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CreditCode(String);

fn value(c: char) -> Result<u32, CreditCodeError> {
    ALPHABET
        .find(c)
        .map(|i| i as u32)
        .ok_or(CreditCodeError::Character(c))
}

impl CreditCode {
    /// Parses and validates `text` (surrounding spaces ignored, lower case
    /// accepted).
    pub fn parse(text: &str) -> Result<CreditCode, CreditCodeError> {
        let text = text.trim().to_ascii_uppercase();
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 18 {
            return Err(CreditCodeError::Length(chars.len()));
        }
        let mut sum = 0;
        for (c, weight) in chars[..17].iter().zip(WEIGHTS) {
            sum += value(*c)? * weight;
        }
        let check = value(chars[17])?;
        if (31 - sum % 31) % 31 != check {
            return Err(CreditCodeError::CheckCharacter);
        }
        Ok(CreditCode(text))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The six-digit administrative division code of the registering
    /// authority (characters 3–8).
    pub fn region(&self) -> &str {
        &self.0[2..8]
    }
}

impl fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditCode({})", self.0)
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_are_valid() {
        // Codes printed on public business licences, and the example of GB 32100.
        for code in [
            "91110000600037341L",
            "91310000717854505W",
            "91350100M000100Y43",
            "91310115MA1H7GYX8Q",
        ] {
            let parsed = CreditCode::parse(code);
            assert!(parsed.is_ok(), "{code}: {parsed:?}");
        }
        assert_eq!(
            CreditCode::parse("91310000717854505w").unwrap().region(),
            "310000"
        );
    }

    #[test]
    fn bad_codes_say_what_is_wrong() {
        assert_eq!(
            CreditCode::parse("91110000600037341M"),
            Err(CreditCodeError::CheckCharacter)
        );
        assert_eq!(
            CreditCode::parse("91110000600037341"),
            Err(CreditCodeError::Length(17))
        );
        assert_eq!(
            CreditCode::parse("9111000060003734IL"),
            Err(CreditCodeError::Character('I'))
        );
    }
}
