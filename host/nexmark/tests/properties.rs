//! Invariants over random seeds, configs and resume points (proptest).

mod common;

use millrace_nexmark::{Event, Generator, GeneratorConfig};
use proptest::prelude::*;

fn any_config() -> impl Strategy<Value = GeneratorConfig> {
    (
        any::<u64>(),
        1u32..=20_000,
        1u32..=6,
        1u32..=6,
        1u32..=6,
        0u32..=150,
        0u32..=1500,
        1u64..=30,
    )
        .prop_map(
            |(seed, rate, hot_auction, hot_sellers, hot_bidders, in_flight, active, group)| {
                GeneratorConfig {
                    num_events: 3000,
                    seed,
                    first_event_rate: rate,
                    hot_auction_ratio: hot_auction,
                    hot_sellers_ratio: hot_sellers,
                    hot_bidders_ratio: hot_bidders,
                    num_in_flight_auctions: in_flight,
                    num_active_people: active,
                    out_of_order_group_size: group,
                    ..GeneratorConfig::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any seed and config: references stay within Beam's windows, fields in range,
    /// and (in order) times follow the rate exactly.
    #[test]
    fn in_order_streams_keep_beams_invariants(config in any_config()) {
        let config = GeneratorConfig { out_of_order_group_size: 1, ..config };
        let events: Vec<Event> = Generator::new(config.clone()).unwrap().collect();
        prop_assert_eq!(events.len(), 3000);
        common::check_references(&config, &events);
        common::check_fields(&events);
        let delay_us = (1_000_000 + u64::from(config.first_event_rate) / 2)
            / u64::from(config.first_event_rate);
        for (i, event) in events.iter().enumerate() {
            prop_assert_eq!(
                event.timestamp(),
                config.base_time + (i as u64 * delay_us / 1000) as i64
            );
        }
    }

    /// Any seed, config and resume point: resuming equals running up to it, and the
    /// same config gives the same events.
    #[test]
    fn resuming_equals_running(config in any_config(), at in 0u64..3000) {
        let all: Vec<Event> = Generator::new(config.clone()).unwrap().collect();
        let resumed: Vec<Event> = Generator::at(config.clone(), at).unwrap().collect();
        prop_assert!(resumed[..] == all[at as usize..]);
        let mut generator = Generator::at(config, at).unwrap();
        prop_assert!(generator.all(|e| e.timestamp() >= all[0].timestamp()));
    }

    /// Any group size: every event time is at or above the watermark before it, and
    /// the watermark never goes back.
    #[test]
    fn watermark_bounds_later_events(config in any_config()) {
        let mut generator = Generator::new(config).unwrap();
        let mut watermarks = Vec::new();
        let mut times = Vec::new();
        loop {
            let watermark = generator.watermark();
            let Some(event) = generator.next() else { break };
            watermarks.push(watermark);
            times.push(event.timestamp());
        }
        prop_assert!(watermarks.windows(2).all(|w| w[0] <= w[1]));
        for (i, &watermark) in watermarks.iter().enumerate() {
            prop_assert!(times[i..].iter().all(|&t| t >= watermark), "event {}", i);
        }
    }
}
