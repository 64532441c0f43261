//! The port formula: `19000 + MONO_ENV_ID * 100 + offset`, part of the
//! contract: scripts and compose files rely on it, and the daemon, the
//! compose planner and clients compute it alike.
//!
//! The env id is a slot (the smallest free positive integer whose block no
//! other program listens on), so the highest port stays below 65536 however
//! many environments come and go.

use std::ops::RangeInclusive;

/// First port of slot 0's block.
pub const PORT_BASE: u32 = 19_000;
/// Ports reserved for each environment.
pub const PORTS_PER_ENV: u32 = 100;
/// The highest slot whose whole block fits below port 65536.
pub const MAX_SLOT: u32 = (65_535 - PORT_BASE - (PORTS_PER_ENV - 1)) / PORTS_PER_ENV;

/// First port of a slot's block.
pub fn block_start(slot: u32) -> u16 {
    debug_assert!((1..=MAX_SLOT).contains(&slot));
    u16::try_from(PORT_BASE + slot * PORTS_PER_ENV).expect("slot within MAX_SLOT")
}

/// Every port of a slot's block.
pub fn block(slot: u32) -> RangeInclusive<u16> {
    let start = block_start(slot);
    start..=start + (PORTS_PER_ENV as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_slot_fits_below_65536() {
        assert_eq!(MAX_SLOT, 464);
        assert_eq!(block_start(1), 19_100);
        assert_eq!(u32::from(block_start(MAX_SLOT)) + PORTS_PER_ENV - 1, 65_499);
        assert_eq!(block(2), 19_200..=19_299);
        const { assert!(PORT_BASE + (MAX_SLOT + 1) * PORTS_PER_ENV + PORTS_PER_ENV - 1 > 65_535) };
    }
}
