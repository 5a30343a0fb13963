//! Fixed maxima, each with its unit, and the assertions that relate them.

/// Volume and bucket names (Ozone's `verifyResourceName`, strict S3 mode).
pub const RESOURCE_NAME_BYTES_MIN: usize = 3;
pub const RESOURCE_NAME_BYTES_MAX: usize = 63;

/// Key names: any non-empty UTF-8 without NUL up to this size (S3's limit).
pub const KEY_NAME_BYTES_MAX: usize = 1024;

/// Ozone's default `ozone.scm.block.size`: a key of `size` bytes gets `ceil(size / this)` blocks.
pub const BLOCK_SIZE_BYTES: u64 = 256 * 1024 * 1024;

/// Largest key, so that block ids derived from the log index never collide.
pub const KEY_SIZE_BYTES_MAX: u64 = 1 << 40;

/// Block ids of a key opened at log index `i` are `i * BLOCKS_PER_KEY_MAX + n`.
pub const BLOCKS_PER_KEY_MAX: u64 = KEY_SIZE_BYTES_MAX / BLOCK_SIZE_BYTES;

/// `ozone.om.server.list.max.size`: entries returned by one list call at most.
pub const LIST_ENTRIES_MAX: usize = 1000;

/// `ozone.om.unflushed.transaction.max.count` default: double-buffer back-pressure.
pub const UNFLUSHED_TRANSACTIONS_MAX_DEFAULT: usize = 10_000;

/// `ozone.om.double.buffer.flush.interval` default: a flush starts no sooner than this after the
/// previous one began (`double_buffer::FlushPolicy`; 0 is Ozone's flush-when-done).
pub const FLUSH_INTERVAL_MS_DEFAULT: u64 = 5;

const _: () = assert!(KEY_SIZE_BYTES_MAX.is_multiple_of(BLOCK_SIZE_BYTES));
const _: () = assert!(BLOCKS_PER_KEY_MAX == 4096);
const _: () = assert!(RESOURCE_NAME_BYTES_MIN <= RESOURCE_NAME_BYTES_MAX);
// Usage is size x replication factor (at most 3): it must fit u64 with room for many keys.
const _: () = assert!(KEY_SIZE_BYTES_MAX.checked_mul(3 * (1 << 20)).is_some());
