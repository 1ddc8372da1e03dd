//! The generator's configuration, its validation, and the event-time schedule derived
//! from it (Beam's `GeneratorConfig` and `NexmarkUtils.RateShape`).

use serde::{Deserialize, Serialize};

/// Beam's fixed base time, `NexmarkUtils.BASE_TIME`: 2015-07-15T00:00:00Z, in
/// milliseconds since the Unix epoch. Event times count from it unless
/// [`GeneratorConfig::base_time`] says otherwise.
pub const BEAM_BASE_TIME_MS: i64 = 1_436_918_400_000;

/// The largest accepted event rate, in events per second: one event per microsecond,
/// the resolution of Beam's inter-event delay.
pub const MAX_EVENT_RATE: u32 = 1_000_000;

/// Beam's out-of-order shuffle multiplies event numbers by this prime
/// (`GeneratorConfig.nextAdjustedEventNumber`); a group size that is a multiple of it
/// would not be shuffled into a permutation.
const SHUFFLE_PRIME: u64 = 953;

/// Beam's `PROPORTION_DENOMINATOR`: every 50 events hold 1 person, 3 auctions, 46 bids.
pub(crate) const PROPORTION_DENOMINATOR: u64 = 50;
/// Beam's `AUCTION_PROPORTION`.
pub(crate) const AUCTION_PROPORTION: u64 = 3;

/// How the event rate moves between [`GeneratorConfig::first_event_rate`] and
/// [`GeneratorConfig::next_event_rate`] (Beam's `NexmarkUtils.RateShape`). Without a
/// different `next_event_rate` the rate is constant whatever the shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateShape {
    /// Two steps: the first rate, then the next rate, each for half of
    /// [`GeneratorConfig::rate_period_sec`], repeating.
    Square,
    /// A cosine from the first rate to the next rate and back over
    /// [`GeneratorConfig::rate_period_sec`], approximated by 10 steps (Beam's default).
    #[default]
    Sine,
}

/// What the generator produces. Field names are Beam's `NexmarkConfiguration` fields in
/// snake case, and each default is Beam's default, except where a field says otherwise.
/// Deserialising rejects unknown fields; call [`GeneratorConfig::validate`] (or
/// [`crate::Generator::new`], which does) before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// How many events to generate (Beam `numEvents`, default 100 000). `0` means as
    /// many as Beam allows without overflow: `i64::MAX / (50 * the largest average
    /// event size)`.
    pub num_events: u64,
    /// Event rate at the start, in events per second (Beam `firstEventRate`, default
    /// 10 000), in `1..=1_000_000`. Events are spaced by `round(10^6 / rate)` whole
    /// microseconds, as in Beam, so rates that do not divide 10^6 are approximated.
    pub first_event_rate: u32,
    /// The rate the shape moves to, in events per second (Beam `nextEventRate`).
    /// Absent (the default) means the same as `first_event_rate`: a constant rate.
    /// (Beam defaults it to 10 000 regardless, so lowering only the first rate there
    /// turns on the sine shape.)
    pub next_event_rate: Option<u32>,
    /// Shape of the rate between the two rates (Beam `rateShape`, default sine).
    pub rate_shape: RateShape,
    /// Period of the rate shape, in seconds (Beam `ratePeriodSec`, default 600);
    /// at least 1 when the two rates differ.
    pub rate_period_sec: u32,
    /// Seed of every random choice (not in Beam, which seeds with the event id alone;
    /// default 0). Event `n` under seed `s` is the same on every machine and run.
    pub seed: u64,
    /// Event time of the first event, in milliseconds since the Unix epoch (Beam's
    /// `BASE_TIME`, [`BEAM_BASE_TIME_MS`], by default).
    pub base_time: i64,
    /// A bid is for the current hot auction with probability `1 - 1/hot_auction_ratio`
    /// (Beam `hotAuctionRatio`, default 2); at least 1.
    pub hot_auction_ratio: u32,
    /// An auction is by the current hot seller with probability
    /// `1 - 1/hot_sellers_ratio` (Beam `hotSellersRatio`, default 4); at least 1.
    pub hot_sellers_ratio: u32,
    /// A bid is by the current hot bidder with probability `1 - 1/hot_bidders_ratio`
    /// (Beam `hotBiddersRatio`, default 4); at least 1.
    pub hot_bidders_ratio: u32,
    /// Other bids go to one of the last `num_in_flight_auctions + 1` auctions or the
    /// next 10 (Beam `numInFlightAuctions`, default 100); it also sets the average
    /// auction length.
    pub num_in_flight_auctions: u32,
    /// Other sellers and bidders are among the last `num_active_people` people or the
    /// next 10 (Beam `numActivePeople`, default 1000).
    pub num_active_people: u32,
    /// Events are shuffled within consecutive groups of this many (Beam
    /// `outOfOrderGroupSize`, default 1: in order). At least 1 and not a multiple of
    /// 953, for which Beam's shuffle repeats events. As in Beam, a size `k` with
    /// `953 % k == 1` (2, 4, 7, 8, 14, 17, ...) leaves every group in order.
    pub out_of_order_group_size: u64,
    /// Average size of a person, in Beam's accounting of bytes, reached by padding
    /// `extra` (Beam `avgPersonByteSize`, default 200).
    pub avg_person_byte_size: u32,
    /// Average size of an auction (Beam `avgAuctionByteSize`, default 500).
    pub avg_auction_byte_size: u32,
    /// Average size of a bid (Beam `avgBidByteSize`, default 100).
    pub avg_bid_byte_size: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            num_events: 100_000,
            first_event_rate: 10_000,
            next_event_rate: None,
            rate_shape: RateShape::Sine,
            rate_period_sec: 600,
            seed: 0,
            base_time: BEAM_BASE_TIME_MS,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            out_of_order_group_size: 1,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
        }
    }
}

/// A [`GeneratorConfig`] field out of range: which field, what it must be, and what it
/// was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nexmark generator config: `{field}` must be {expected}, but is {actual}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The field's name, as in the serialised config.
    pub field: &'static str,
    /// What the field must be.
    pub expected: &'static str,
    /// The value it has.
    pub actual: String,
}

impl ConfigError {
    fn new(field: &'static str, expected: &'static str, actual: impl ToString) -> Self {
        Self {
            field,
            expected,
            actual: actual.to_string(),
        }
    }
}

impl GeneratorConfig {
    /// Checks every field that could make generation divide by zero or lose meaning.
    ///
    /// # Errors
    /// The first field out of range, with what it must be.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const RATE: &str = "an event rate in 1..=1000000 events per second";
        if !(1..=MAX_EVENT_RATE).contains(&self.first_event_rate) {
            return Err(ConfigError::new(
                "first_event_rate",
                RATE,
                self.first_event_rate,
            ));
        }
        if let Some(next) = self.next_event_rate
            && !(1..=MAX_EVENT_RATE).contains(&next)
        {
            return Err(ConfigError::new("next_event_rate", RATE, next));
        }
        if self.next_rate() != self.first_event_rate && self.rate_period_sec == 0 {
            return Err(ConfigError::new(
                "rate_period_sec",
                "at least 1 when next_event_rate differs from first_event_rate",
                self.rate_period_sec,
            ));
        }
        for (field, value) in [
            ("hot_auction_ratio", self.hot_auction_ratio),
            ("hot_sellers_ratio", self.hot_sellers_ratio),
            ("hot_bidders_ratio", self.hot_bidders_ratio),
        ] {
            if value == 0 {
                return Err(ConfigError::new(field, "at least 1", value));
            }
        }
        let group = self.out_of_order_group_size;
        if group == 0 || group.is_multiple_of(SHUFFLE_PRIME) {
            return Err(ConfigError::new(
                "out_of_order_group_size",
                "at least 1 and not a multiple of 953",
                group,
            ));
        }
        Ok(())
    }

    /// The rate the shape moves to: `next_event_rate`, or the first rate.
    fn next_rate(&self) -> u32 {
        self.next_event_rate.unwrap_or(self.first_event_rate)
    }

    /// How many events the generator yields (Beam `GeneratorConfig` l. 103-113).
    pub(crate) fn max_events(&self) -> u64 {
        if self.num_events != 0 {
            return self.num_events;
        }
        let largest = self
            .avg_person_byte_size
            .max(self.avg_auction_byte_size)
            .max(self.avg_bid_byte_size)
            .max(1);
        i64::MAX as u64 / (PROPORTION_DENOMINATOR * u64::from(largest))
    }
}

/// Microseconds between events at `rate` events per second, rounded
/// (Beam `NexmarkUtils.RateUnit.rateToPeriodUs`).
fn rate_to_period_us(rate: u64) -> u64 {
    (1_000_000 + rate / 2) / rate
}

/// `cos(2πi/10)` for `i` in `0..10`, from `sqrt(5)` (correctly rounded everywhere)
/// rather than the platform's `cos`, so the sine steps are the same on every machine.
fn sine_steps() -> [f64; 10] {
    let root5 = 5f64.sqrt();
    let c36 = (1.0 + root5) / 4.0;
    let c72 = (root5 - 1.0) / 4.0;
    [1.0, c36, c72, -c72, -c36, -1.0, -c36, -c72, c72, c36]
}

/// When each event happens, and in which order events are emitted: Beam's
/// `GeneratorConfig` timing for a single generator (`numEventGenerators = 1`).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    base_time: i64,
    /// Inter-event delay of each step, in microseconds (Beam `interEventDelayUs`).
    delays_us: Vec<u64>,
    /// Length of each step, in seconds (Beam `stepLengthSec`).
    step_length_sec: u64,
    /// Events in one run through all steps (Beam `eventsPerEpoch`).
    events_per_epoch: u64,
    /// Milliseconds of one run through all steps (Beam `epochPeriodMs`).
    epoch_period_ms: u64,
    /// Beam `outOfOrderGroupSize`.
    group: u64,
}

impl Schedule {
    /// The schedule of a validated config (Beam `GeneratorConfig` constructor and
    /// `NexmarkUtils.RateShape.interEventDelayUs` / `stepLengthSec`).
    pub(crate) fn new(config: &GeneratorConfig) -> Self {
        let first = u64::from(config.first_event_rate);
        let next = u64::from(config.next_rate());
        let (delays_us, steps) = if first == next {
            (vec![rate_to_period_us(first)], 1)
        } else {
            match config.rate_shape {
                RateShape::Square => (vec![rate_to_period_us(first), rate_to_period_us(next)], 2),
                RateShape::Sine => {
                    let mid = (first + next) as f64 / 2.0;
                    let amp = (first as f64 - next as f64) / 2.0;
                    let delays = sine_steps()
                        .iter()
                        .map(|cos| rate_to_period_us((mid + amp * cos).round() as u64))
                        .collect();
                    (delays, 10)
                }
            }
        };
        let step_length_sec = u64::from(config.rate_period_sec).div_ceil(steps);
        let (mut events_per_epoch, mut epoch_period_ms) = (0, 0);
        if delays_us.len() > 1 {
            for &delay in &delays_us {
                let events = step_length_sec * 1_000_000 / delay;
                events_per_epoch += events;
                epoch_period_ms += events * delay / 1000;
            }
        }
        Self {
            base_time: config.base_time,
            delays_us,
            step_length_sec,
            events_per_epoch,
            epoch_period_ms,
            group: config.out_of_order_group_size,
        }
    }

    /// Event time of the event numbered `event_number`, in ms
    /// (Beam `timestampAndInterEventDelayUsForEvent`, l. 267-288).
    pub(crate) fn timestamp(&self, event_number: u64) -> i64 {
        let n = u128::from(event_number);
        let offset_ms: u128 = if let [delay] = self.delays_us[..] {
            n * u128::from(delay) / 1000
        } else {
            let per_epoch = u128::from(self.events_per_epoch);
            let (epoch, mut k) = (n / per_epoch, n % per_epoch);
            let mut offset = epoch * u128::from(self.epoch_period_ms);
            for &delay in &self.delays_us {
                let delay = u128::from(delay);
                let events = u128::from(self.step_length_sec) * 1_000_000 / delay;
                if k < events {
                    offset += k * delay / 1000;
                    break;
                }
                k -= events;
                offset += events * delay / 1000;
            }
            offset
        };
        let offset = i64::try_from(offset_ms).unwrap_or(i64::MAX);
        self.base_time.saturating_add(offset)
    }

    /// The event id (which decides the kind, ids, seed and time of an event) of the
    /// `count`-th event emitted: `count` itself when in order, else shuffled within its
    /// group (Beam `nextAdjustedEventNumber`, l. 245-251).
    pub(crate) fn event_id(&self, count: u64) -> u64 {
        let n = self.group;
        let base = count / n * n;
        let offset = (u128::from(count) * u128::from(SHUFFLE_PRIME) % u128::from(n)) as u64;
        base + offset
    }

    /// The event number whose time bounds from below the time of the `count`-th event
    /// and of all after it: the start of its group (Beam `nextEventNumberForWatermark`,
    /// l. 257-261).
    pub(crate) fn watermark_event_number(&self, count: u64) -> u64 {
        count / self.group * self.group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_steps_match_cos() {
        for (i, step) in sine_steps().iter().enumerate() {
            let reference = (2.0 * std::f64::consts::PI * i as f64 / 10.0).cos();
            assert!((step - reference).abs() < 1e-15, "step {i}");
        }
    }

    #[test]
    fn beam_default_rate_is_ten_events_per_millisecond() {
        let schedule = Schedule::new(&GeneratorConfig::default());
        assert_eq!(schedule.delays_us, vec![100]);
        assert_eq!(schedule.timestamp(0), BEAM_BASE_TIME_MS);
        assert_eq!(schedule.timestamp(9), BEAM_BASE_TIME_MS);
        assert_eq!(schedule.timestamp(10), BEAM_BASE_TIME_MS + 1);
        assert_eq!(schedule.timestamp(12_345), BEAM_BASE_TIME_MS + 1234);
    }

    #[test]
    fn sine_delays_follow_beam() {
        let config = GeneratorConfig {
            first_event_rate: 1000,
            next_event_rate: Some(3000),
            rate_period_sec: 10,
            ..GeneratorConfig::default()
        };
        let schedule = Schedule::new(&config);
        // rates 1000, 1191, 1691, 2309, 2809, 3000, 2809, 2309, 1691, 1191
        assert_eq!(
            schedule.delays_us,
            vec![1000, 840, 591, 433, 356, 333, 356, 433, 591, 840]
        );
        assert_eq!(schedule.step_length_sec, 1);
        assert_eq!(
            schedule.events_per_epoch,
            [1000, 1190, 1692, 2309, 2808, 3003, 2808, 2309, 1692, 1190]
                .iter()
                .sum::<u64>()
        );
    }

    #[test]
    fn unbounded_event_count_follows_beam() {
        let config = GeneratorConfig {
            num_events: 0,
            ..GeneratorConfig::default()
        };
        assert_eq!(config.max_events(), i64::MAX as u64 / (50 * 500));
    }

    #[test]
    fn shuffle_is_a_permutation_of_each_group() {
        let config = GeneratorConfig {
            out_of_order_group_size: 7,
            ..GeneratorConfig::default()
        };
        let schedule = Schedule::new(&config);
        for group in 0..20u64 {
            let mut ids: Vec<u64> = (group * 7..group * 7 + 7)
                .map(|c| schedule.event_id(c))
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, (group * 7..group * 7 + 7).collect::<Vec<_>>());
        }
    }
}
