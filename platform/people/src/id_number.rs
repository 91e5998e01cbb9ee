//! The resident identity number of GB 11643-1999: six digits of region,
//! eight of birth date, three of sequence, one check character.

use std::fmt;

/// Why an id number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Not 18 characters.
    #[error("身份证号码应为18位 (a resident id number has 18 characters, got {0})")]
    Length(usize),
    /// A character other than a digit (or a final X).
    #[error(
        "身份证号码只能包含数字，末位可为X (a resident id number holds digits, the last may be X)"
    )]
    Character,
    /// The birth date is not a real date.
    #[error("身份证号码中的出生日期无效 (the birth date in the id number is not a valid date)")]
    BirthDate,
    /// The check character does not match.
    #[error("身份证号码校验位错误 (the id number's check character is wrong)")]
    CheckDigit,
}

/// A valid 18-character resident identity number, with a final `x`
/// normalised to `X`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdNumber {
    /// Parses and validates `text` (surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<IdNumber, IdNumberError> {
        let text = text.trim().to_ascii_uppercase();
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 18 {
            return Err(IdNumberError::Length(chars.len()));
        }
        let mut sum = 0;
        for (c, weight) in chars[..17].iter().zip(WEIGHTS) {
            let digit = c.to_digit(10).ok_or(IdNumberError::Character)?;
            sum += digit * weight;
        }
        let last = chars[17];
        if !(last.is_ascii_digit() || last == 'X') {
            return Err(IdNumberError::Character);
        }
        let birth = &text[6..14];
        if chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err(IdNumberError::BirthDate);
        }
        if CHECK[(sum % 11) as usize] != last {
            return Err(IdNumberError::CheckDigit);
        }
        Ok(IdNumber(text))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The six-digit administrative division code of the place of
    /// registration.
    pub fn region(&self) -> &str {
        &self.0[..6]
    }

    /// The date of birth.
    pub fn birth_date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").ok()
    }
}

impl fmt::Debug for IdNumber {
    // Never print the whole number into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", civitas_vault::mask::id_number(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standards_example_is_valid() {
        // GB 11643-1999, appendix example.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.region(), "110105");
        assert_eq!(id.birth_date().unwrap().to_string(), "1949-12-31");
        assert!(IdNumber::parse("11010519491231002x").is_ok());
        assert!(IdNumber::parse("440524188001010014").is_ok());
    }

    #[test]
    fn bad_numbers_say_what_is_wrong() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckDigit)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002"),
            Err(IdNumberError::Length(17))
        );
        assert_eq!(
            IdNumber::parse("1101051949123100X2"),
            Err(IdNumberError::Character)
        );
        assert_eq!(
            IdNumber::parse("110105194913310027"),
            Err(IdNumberError::BirthDate)
        );
    }

    #[test]
    fn debug_output_is_masked() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(format!("{id:?}"), "IdNumber(110***********002X)");
    }
}
