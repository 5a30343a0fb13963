//! Stateless validation: names (Ozone's `verifyResourceName`, strict S3 mode) and sizes.

use super::types::OmErrorCode;

/// Shortest volume or bucket name, in bytes.
pub const RESOURCE_NAME_BYTES_MIN: usize = 3;
/// Longest volume or bucket name, in bytes.
pub const RESOURCE_NAME_BYTES_MAX: usize = 63;
/// Longest key name, in bytes.
pub const KEY_NAME_BYTES_MAX: usize = 1024;
/// Largest key size a request may name (1 TiB).
pub const KEY_SIZE_BYTES_MAX: u64 = 1 << 40;
/// Size of one block: a key of size `s` has `ceil(s / BLOCK_SIZE_BYTES)` blocks.
pub const BLOCK_SIZE_BYTES: u64 = 256 * 1024 * 1024;
/// Block ids of the open at log index `i` are `i * BLOCK_IDS_PER_INDEX + n`.
pub const BLOCK_IDS_PER_INDEX: u64 = 4096;

const _: () = assert!(KEY_SIZE_BYTES_MAX.div_ceil(BLOCK_SIZE_BYTES) <= BLOCK_IDS_PER_INDEX);

/// True for a valid volume or bucket name.
pub fn is_valid_resource_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let length_ok = (RESOURCE_NAME_BYTES_MIN..=RESOURCE_NAME_BYTES_MAX).contains(&bytes.len());
    let characters_ok = bytes.iter().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'.' || *byte == b'-'
    });
    length_ok
        && characters_ok
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !looks_like_ipv4(name)
}

/// True for names matching `^\d{1,3}(\.\d{1,3}){3}$`.
fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|part| {
            (1..=3).contains(&part.len()) && part.bytes().all(|byte| byte.is_ascii_digit())
        })
}

/// True for a valid key name.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= KEY_NAME_BYTES_MAX && !name.contains('\0')
}

/// `INVALID_VOLUME_NAME` unless valid.
pub fn check_volume_name(name: &str) -> Result<(), OmErrorCode> {
    is_valid_resource_name(name)
        .then_some(())
        .ok_or(OmErrorCode::InvalidVolumeName)
}

/// `INVALID_BUCKET_NAME` unless valid.
pub fn check_bucket_name(name: &str) -> Result<(), OmErrorCode> {
    is_valid_resource_name(name)
        .then_some(())
        .ok_or(OmErrorCode::InvalidBucketName)
}

/// `INVALID_KEY_NAME` unless valid.
pub fn check_key_name(name: &str) -> Result<(), OmErrorCode> {
    is_valid_key_name(name)
        .then_some(())
        .ok_or(OmErrorCode::InvalidKeyName)
}

/// `INVALID_REQUEST` for a size over the limit.
pub fn check_size(size: u64) -> Result<(), OmErrorCode> {
    (size <= KEY_SIZE_BYTES_MAX)
        .then_some(())
        .ok_or(OmErrorCode::InvalidRequest)
}

/// The block ids an open at log index `index` of `size` bytes allocates.
pub fn block_ids(index: u64, size: u64) -> Vec<u64> {
    let count = size.div_ceil(BLOCK_SIZE_BYTES);
    (0..count)
        .map(|n| index * BLOCK_IDS_PER_INDEX + n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_s3_rules() {
        for good in [
            "abc",
            "vol-1",
            "a.b.c",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.a",
            &"a".repeat(63),
        ] {
            assert!(is_valid_resource_name(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "a.-b",
            "a-.b",
            "a_b",
            "1.2.3.4",
            "192.168.0.1",
            &long,
        ] {
            assert!(!is_valid_resource_name(bad), "{bad}");
        }
    }

    #[test]
    fn key_names_and_sizes() {
        assert!(is_valid_key_name("a/b c"));
        assert!(!is_valid_key_name(""));
        assert!(!is_valid_key_name("a\0b"));
        assert!(is_valid_key_name(&"k".repeat(1024)));
        assert!(!is_valid_key_name(&"k".repeat(1025)));
        assert_eq!(check_size(1 << 40), Ok(()));
        assert_eq!(check_size((1 << 40) + 1), Err(OmErrorCode::InvalidRequest));
        assert_eq!(block_ids(5, 0), Vec::<u64>::new());
        assert_eq!(block_ids(5, 1), vec![5 * 4096]);
        assert_eq!(block_ids(2, BLOCK_SIZE_BYTES + 1), vec![8192, 8193]);
        assert_eq!(block_ids(1, 1 << 40).len(), 4096);
    }
}
