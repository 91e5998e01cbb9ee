//! The password policy.

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// Too short.
    #[error("密码至少 {0} 个字符 (a password has at least {0} characters)")]
    TooShort(usize),
    /// Too few kinds of characters.
    #[error(
        "密码须包含大写字母、小写字母、数字、符号中的至少 {0} 类 (a password mixes at least {0} of: upper case, lower case, digits, symbols)"
    )]
    TooFewClasses(usize),
    /// The same as one of the last passwords.
    #[error("不能重复使用最近 {0} 次用过的密码 (a password may not repeat any of the last {0})")]
    Reused(usize),
}

/// What a password must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The minimum length in characters.
    pub min_length: usize,
    /// The minimum number of character classes (upper, lower, digit, other).
    pub min_classes: usize,
    /// How many previous passwords may not be reused.
    pub history: usize,
}

impl Default for PasswordPolicy {
    fn default() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 8,
            min_classes: 3,
            history: 5,
        }
    }
}

impl PasswordPolicy {
    /// Checks length and character classes (reuse is checked against the
    /// stored history when the password is changed).
    pub fn check(&self, password: &str) -> Result<(), PolicyViolation> {
        if password.chars().count() < self.min_length {
            return Err(PolicyViolation::TooShort(self.min_length));
        }
        let classes = [
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ];
        if classes.iter().filter(|&&present| present).count() < self.min_classes {
            return Err(PolicyViolation::TooFewClasses(self.min_classes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_length_and_three_classes() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.check("Civitas#2026"), Ok(()));
        assert_eq!(
            policy.check("civitas2026"),
            Err(PolicyViolation::TooFewClasses(3))
        );
        assert_eq!(policy.check("Ci#26"), Err(PolicyViolation::TooShort(8)));
        assert_eq!(
            policy.check("民政局Abc12345"),
            Ok(()),
            "Chinese characters count as characters"
        );
    }
}
