//! Ozone's naming rules (`verifyResourceName`, strict S3 mode) and key-name limits.

use crate::limits::{KEY_NAME_BYTES_MAX, RESOURCE_NAME_BYTES_MAX, RESOURCE_NAME_BYTES_MIN};

/// Volume and bucket names: 3-63 of `[a-z0-9.-]`, no leading or trailing `.`/`-`, no `..`,
/// `.-` or `-.`, and not shaped like an IPv4 address.
pub fn is_valid_resource_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let length_ok = (RESOURCE_NAME_BYTES_MIN..=RESOURCE_NAME_BYTES_MAX).contains(&bytes.len());
    let charset_ok = (bytes.iter())
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !length_ok || !charset_ok {
        return false;
    }
    let edge = |b: u8| b == b'.' || b == b'-';
    if edge(bytes[0]) || edge(bytes[bytes.len() - 1]) {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    !looks_like_ipv4(name)
}

/// Four dot-separated groups of one to three decimal digits.
fn looks_like_ipv4(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && (groups.iter()).all(|group| {
            (1..=3).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Key names: non-empty UTF-8 without NUL, at most `KEY_NAME_BYTES_MAX` bytes.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= KEY_NAME_BYTES_MAX && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_ozone_rules() {
        for good in [
            "abc",
            "vol-1",
            "a.b.c",
            "1.2.3",
            "123",
            "a23.4.5.6",
            &"a".repeat(63),
        ] {
            assert!(is_valid_resource_name(good), "{good} should be valid");
        }
        let long = "a".repeat(64);
        for bad in [
            "ab",
            &long,
            "Abc",
            "a_b",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "a.-b",
            "a-.b",
            "1.2.3.4",
            "192.168.001.1",
            "a b",
            "ábc",
            "",
        ] {
            assert!(!is_valid_resource_name(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn key_names_are_non_empty_bounded_utf8() {
        assert!(is_valid_key_name("a/b/c.txt"));
        assert!(is_valid_key_name(&"k".repeat(KEY_NAME_BYTES_MAX)));
        assert!(!is_valid_key_name(""));
        assert!(!is_valid_key_name(&"k".repeat(KEY_NAME_BYTES_MAX + 1)));
        assert!(!is_valid_key_name("a\0b"));
    }
}
