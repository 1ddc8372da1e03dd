//! The per-event random source and the few distributions the generator draws from.
//!
//! Beam seeds a fresh `java.util.Random` with each event id (`Generator.java` l. 218);
//! here a fresh xoshiro256++ is seeded from `(seed, stream, index)`, so any event can
//! be generated on its own. Every draw below is built from `next_u64` and IEEE basic
//! arithmetic only (no platform `libm`), so the values are identical on every machine.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng as _};

/// Stream of the event with a given event id.
pub(crate) const STREAM_EVENT: u64 = 0x6576_656e_7400_0001;
/// Stream of the URL of one of the hot channels (index 0..4).
pub(crate) const STREAM_HOT_URL: u64 = 0x686f_7475_726c_0002;
/// Stream of the URL of one of the 10 000 ordinary channels.
pub(crate) const STREAM_CHANNEL_URL: u64 = 0x6368_616e_6e6c_0003;

/// SplitMix64's finaliser: a bijection on `u64` that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random source seeded from `(seed, stream, index)`, with the draws Beam's
/// generator makes of `java.util.Random`.
pub(crate) struct EventRng(Xoshiro256PlusPlus);

impl EventRng {
    /// The source for item `index` of `stream` under `seed`. The first three state
    /// words are bijections of the three inputs, so distinct inputs give distinct
    /// states.
    pub(crate) fn new(seed: u64, stream: u64, index: u64) -> Self {
        let a = mix(seed);
        let b = mix(stream ^ 0x5bd1_e995_5bd1_e995);
        let c = mix(index);
        let d = mix(a ^ b.rotate_left(21) ^ c.rotate_left(42));
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip([a, b, c, d]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Self(Xoshiro256PlusPlus::from_seed(bytes))
    }

    /// Uniform in `[0, bound)` (Lemire's multiply-and-reject, unbiased); `bound > 0`.
    /// Stands in for both `Random.nextInt(bound)` and Beam's `LongGenerator.nextLong`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let mut product = u128::from(self.0.next_u64()) * u128::from(bound);
        let mut low = product as u64;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                product = u128::from(self.0.next_u64()) * u128::from(bound);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }

    /// Uniform index into a slice of `len > 0` items.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform over all `i32`s, like `Random.nextInt()`.
    pub(crate) fn next_i32(&mut self) -> i32 {
        (self.0.next_u64() >> 32) as u32 as i32
    }

    /// Uniform in `[0, 1)` with 53 random bits, like `Random.nextDouble()`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// `10^x` for `x` in `[0, 6]`, from IEEE basic operations only (so the same on every
/// platform, unlike `f64::powf`): `e^(x ln 10)` as `2^k * e^r`, with `e^r` summed as a
/// Taylor series for `r` in `[0, ln 2)`. Relative error is a few ulps.
pub(crate) fn pow10(x: f64) -> f64 {
    let y = x * std::f64::consts::LN_10;
    let k = (y / std::f64::consts::LN_2).floor();
    let r = y - k * std::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=22 {
        term *= r / f64::from(i);
        sum += term;
    }
    // 2^k exactly, from its bit pattern (k is 0..=19 here).
    let two_k = f64::from_bits(((1023 + k as i64) as u64) << 52);
    sum * two_k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow10_matches_powf_closely() {
        for i in 0..=6000 {
            let x = f64::from(i) / 1000.0;
            let ours = pow10(x);
            let reference = 10f64.powf(x);
            assert!(
                ((ours - reference) / reference).abs() < 1e-13,
                "10^{x}: {ours} vs {reference}"
            );
        }
        assert_eq!(pow10(0.0), 1.0);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = EventRng::new(1, STREAM_EVENT, 2);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = rng.below(7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        for _ in 0..1000 {
            assert!(rng.next_f64() < 1.0);
        }
    }

    #[test]
    fn streams_and_indices_differ() {
        let draw = |seed, stream, index| EventRng::new(seed, stream, index).0.next_u64();
        let base = draw(0, STREAM_EVENT, 0);
        assert_ne!(base, draw(1, STREAM_EVENT, 0));
        assert_ne!(base, draw(0, STREAM_HOT_URL, 0));
        assert_ne!(base, draw(0, STREAM_EVENT, 1));
        assert_eq!(base, draw(0, STREAM_EVENT, 0));
    }
}
