//! The wall clock, at the bottom of the collector's layers: every module that needs "now" reads
//! it here, so none of them depends on the transport (`server`) for it.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .div_euclid(1_000_000) as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2024_and_moves_forward() {
        let a = super::now_ms();
        assert!(a > 1_704_067_200_000, "clock reads {a}, before 2024");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(super::now_ms() > a);
    }
}
