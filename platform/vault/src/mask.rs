//! Masking personal data for display, in the forms Chinese government
//! systems use: `310***********1234`, `138****5678`.
//!
//! Masking works on characters and never splits one. Id numbers, phones
//! and bank accounts keep their length and always hide at least four
//! characters; addresses keep only their district, names their first
//! character.

/// Keeps the first `head` and last `tail` characters and stars the rest,
/// keeping the length; a value too short to keep both ends and still hide
/// at least four characters is starred entirely.
fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    if n < head + tail + 4 {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(value.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// A resident identity number: the first 3 and last 4 characters shown
/// (`310***********1234`).
pub fn id_number(value: &str) -> String {
    keep_ends(value, 3, 4)
}

/// A phone number: the first 3 and last 4 digits shown (`138****5678`).
pub fn phone(value: &str) -> String {
    keep_ends(value, 3, 4)
}

/// A bank account number: the first 4 and last 4 digits shown
/// (`6222***********1234`).
pub fn bank_account(value: &str) -> String {
    keep_ends(value, 4, 4)
}

/// An address: shown up to its district or county (`区`, `县`, `旗`), or
/// failing that its city (`市`), then `****`; without either, its first
/// third.
pub fn address(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let cut = ['区', '县', '旗']
        .iter()
        .filter_map(|m| chars.iter().position(|c| c == m))
        .min()
        .or_else(|| chars.iter().position(|c| *c == '市'))
        .map(|i| i + 1)
        .filter(|&i| i < chars.len())
        .unwrap_or(chars.len() / 3);
    let mut out: String = chars[..cut].iter().collect();
    out.push_str("****");
    out
}

/// An e-mail address: the first character of the local part and the
/// whole domain shown (`z*****@pudong.gov.cn`); without `@`, starred.
pub fn email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let mut chars = local.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            format!("{first}{}@{domain}", "*".repeat(chars.count().max(3)))
        }
        _ => "*".repeat(value.chars().count()),
    }
}

/// A personal name: only its first character shown (`张*`, `欧***`).
pub fn name(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_owned(),
        n => {
            let mut out: String = chars[..1].iter().collect();
            out.push_str(&"*".repeat(n - 1));
            out
        }
    }
}

/// A date such as a date of birth: only its year shown (`1954-**-**`);
/// anything not starting with a four-digit year is starred.
pub fn date(value: &str) -> String {
    let year_first = value.len() > 4
        && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && value.as_bytes()[4] == b'-';
    let mut chars = value.chars();
    let mut out = String::with_capacity(value.len());
    if year_first {
        out.extend(chars.by_ref().take(4));
    }
    out.extend(chars.map(|c| if c == '-' { '-' } else { '*' }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_keeps_only_its_year() {
        assert_eq!(date("1954-03-02"), "1954-**-**");
        assert_eq!(date("1954"), "****");
        assert_eq!(date("3月2日"), "****");
        assert_eq!(date(""), "");
    }

    #[test]
    fn an_email_shows_its_first_character_and_domain() {
        assert_eq!(email("zhang.wei@pudong.gov.cn"), "z********@pudong.gov.cn");
        assert_eq!(email("z@x.cn"), "z***@x.cn");
        assert_eq!(email("nobody"), "******");
    }

    #[test]
    fn id_numbers_and_phones_show_the_forms_bureaus_use() {
        assert_eq!(id_number("310101199001011234"), "310***********1234");
        assert_eq!(id_number("31010119900101123X"), "310***********123X");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(bank_account("6222021234567891234"), "6222***********1234");
    }

    #[test]
    fn short_values_are_hidden_entirely() {
        assert_eq!(phone("12345"), "*****");
        assert_eq!(id_number(""), "");
        assert_eq!(bank_account("1234567"), "*******");
    }

    #[test]
    fn addresses_keep_their_district_only() {
        assert_eq!(
            address("上海市浦东新区陆家嘴街道银城中路501号"),
            "上海市浦东新区****"
        );
        assert_eq!(
            address("四川省达州市大竹县竹阳街道"),
            "四川省达州市大竹县****"
        );
        assert_eq!(address("成都市人民南路"), "成都市****");
        assert_eq!(address("人民路一号院"), "人民****");
        // Nothing after the district: still hide something.
        assert_eq!(address("黄浦区"), "黄****");
    }

    #[test]
    fn names_keep_the_first_character() {
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("欧阳娜娜"), "欧***");
        assert_eq!(name("李"), "*");
    }
}
