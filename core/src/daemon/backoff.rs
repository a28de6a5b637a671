//! How the Apache parent paces restarts of a daemon process that keeps failing at start-up.

/// Longest wait between two start attempts of a failing process slot (seconds).
pub const MAX_BACKOFF: u64 = 60;
/// A process that dies (not a clean exit) within this many seconds of starting failed at
/// start-up.
pub const QUICK_DEATH: u64 = 5;
/// Exit status of a daemon process that could not start (RWSGI0101).
pub const EXIT_STARTUP_FAILED: i32 = 100;

/// The wait before the next attempt after `failures` start-up failures in a row:
/// 0, then 1, 2, 4, … seconds, never more than [`MAX_BACKOFF`].
pub fn backoff_after(failures: u32) -> u64 {
    if failures == 0 { 0 } else { (1u64 << (failures - 1).min(16)).min(MAX_BACKOFF) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let seq: Vec<u64> = (0..10).map(backoff_after).collect();
        assert_eq!(seq, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff_after(u32::MAX), MAX_BACKOFF);
    }
}
