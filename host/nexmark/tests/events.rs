//! The generator's output against Beam's rules, on fixed configs.

mod common;

use std::collections::BTreeMap;

use millrace_nexmark::{
    BEAM_BASE_TIME_MS, ConfigError, Event, Generator, GeneratorConfig, RateShape,
};

fn config(num_events: u64) -> GeneratorConfig {
    GeneratorConfig {
        num_events,
        ..GeneratorConfig::default()
    }
}

fn generate(config: &GeneratorConfig) -> Vec<Event> {
    Generator::new(config.clone())
        .expect("valid config")
        .collect()
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Person(_) => "person",
        Event::Auction(_) => "auction",
        Event::Bid(_) => "bid",
    }
}

#[test]
fn mix_is_1_3_46_in_every_block_of_50() {
    let events = generate(&config(50_000));
    assert_eq!(events.len(), 50_000);
    let mut counts = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        *counts.entry(kind(event)).or_insert(0) += 1;
        let expected = match i % 50 {
            0 => "person",
            1..=3 => "auction",
            _ => "bid",
        };
        assert_eq!(kind(event), expected, "event {i}");
    }
    assert_eq!(counts["person"], 1000);
    assert_eq!(counts["auction"], 3000);
    assert_eq!(counts["bid"], 46_000);
}

#[test]
fn same_seed_same_events_and_other_seed_other_events() {
    let a = generate(&config(5000));
    assert!(a == generate(&config(5000)));
    let other = GeneratorConfig {
        seed: 1,
        ..config(5000)
    };
    let b = generate(&other);
    assert_eq!(a.len(), b.len());
    // Kinds, ids and times are the seed's alone to keep; the random fields differ.
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(differing > 4900, "{differing} of 5000 differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(kind(x), kind(y));
        assert_eq!(x.timestamp(), y.timestamp());
    }
}

#[test]
fn resuming_at_n_equals_skipping_n() {
    let config = config(3000);
    let all = generate(&config);
    for n in [0, 1, 3, 4, 49, 50, 51, 1234, 2999, 3000] {
        let resumed: Vec<Event> = Generator::at(config.clone(), n).unwrap().collect();
        assert!(resumed == all[n as usize..], "resumed at {n}");
        let mut skipped = Generator::new(config.clone()).unwrap();
        for _ in 0..n {
            skipped.next();
        }
        assert_eq!(skipped.next_event_number(), n);
        assert_eq!(skipped.next(), all.get(n as usize).cloned());
    }
    let mut generator = Generator::new(config.clone()).unwrap();
    assert_eq!(generator.nth(100).as_ref(), all.get(100));
    assert_eq!(generator.next_event_number(), 101);
    assert_eq!(generator.size_hint(), (2899, Some(2899)));
    assert!(
        Generator::at(config.clone(), 5000)
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn timestamps_follow_a_constant_rate() {
    for (rate, delay_us) in [(1000, 1000u64), (10_000, 100), (1, 1_000_000), (3, 333_333)] {
        let config = GeneratorConfig {
            first_event_rate: rate,
            base_time: 1_700_000_000_000,
            ..config(2000)
        };
        for (i, event) in generate(&config).iter().enumerate() {
            let expected = 1_700_000_000_000 + (i as u64 * delay_us / 1000) as i64;
            assert_eq!(event.timestamp(), expected, "event {i} at {rate}/s");
        }
    }
    // Beam's defaults: 10 000 events/s from 2015-07-15T00:00:00Z.
    let events = generate(&config(100));
    assert_eq!(events[0].timestamp(), BEAM_BASE_TIME_MS);
    assert_eq!(events[99].timestamp(), BEAM_BASE_TIME_MS + 9);
    // Rate 1000/s: event i at base + i ms.
    let config = GeneratorConfig {
        first_event_rate: 1000,
        ..config(10_000)
    };
    for (i, event) in generate(&config).iter().enumerate() {
        assert_eq!(event.timestamp(), BEAM_BASE_TIME_MS + i as i64);
    }
}

#[test]
fn square_shape_alternates_rates() {
    // 1000/s for 1 s, then 2000/s for 1 s: 3000 events per 2 s.
    let config = GeneratorConfig {
        first_event_rate: 1000,
        next_event_rate: Some(2000),
        rate_shape: RateShape::Square,
        rate_period_sec: 2,
        base_time: 0,
        ..config(6001)
    };
    let times: Vec<i64> = generate(&config).iter().map(Event::timestamp).collect();
    assert_eq!(times[999], 999);
    assert_eq!(times[1000], 1000);
    assert_eq!(times[1001], 1000);
    assert_eq!(times[1002], 1001);
    assert_eq!(times[2999], 1999);
    assert_eq!(times[3000], 2000);
    assert_eq!(times[4000], 3000);
    assert_eq!(times[6000], 4000);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn sine_shape_keeps_the_average_rate() {
    let config = GeneratorConfig {
        first_event_rate: 1000,
        next_event_rate: Some(3000),
        rate_period_sec: 10,
        base_time: 0,
        ..config(40_000)
    };
    let times: Vec<i64> = generate(&config).iter().map(Event::timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // Rates 1000, 1191, 1691, 2309, 2809, 3000, 2809, ... for 1 s each, as delays of
    // 1000, 840, 591, 433, 356, 333, 356, ... us: steps of 1000, 1190, 1692, 2309,
    // 2808, 3003, ... events lasting 1000, 999, 999, ... ms (Beam truncates), so one
    // period holds 20 001 events in 9991 ms.
    assert_eq!(times[500], 500);
    assert_eq!(times[1000], 1000);
    assert_eq!(times[1001], 1000);
    assert_eq!(times[1002], 1001);
    let sixth = 1000 + 1190 + 1692 + 2309 + 2808;
    assert_eq!(times[sixth], 1000 + 4 * 999);
    assert_eq!(times[sixth + 3], 4996);
    assert_eq!(times[sixth + 1000], 4996 + 333);
    assert_eq!(times[20_000], 9991 - 1);
    assert_eq!(times[20_001], 9991);
    assert_eq!(times[20_001 + 500], 9991 + 500);
}

#[test]
fn out_of_order_groups_shuffle_ids_and_times_within_groups() {
    let in_order = generate(&config(7000));
    // 953 = 1 (mod 7): Beam's shuffle leaves groups of 7 in order.
    let seven = GeneratorConfig {
        out_of_order_group_size: 7,
        ..config(7000)
    };
    assert!(generate(&seven) == in_order);
    let config = GeneratorConfig {
        out_of_order_group_size: 10,
        ..config(7000)
    };
    let mut generator = Generator::new(config.clone()).unwrap();
    let mut shuffled = Vec::new();
    let mut last_watermark = i64::MIN;
    loop {
        let watermark = generator.watermark();
        let Some(event) = generator.next() else { break };
        assert!(watermark >= last_watermark);
        assert!(
            event.timestamp() >= watermark,
            "event time below the watermark"
        );
        last_watermark = watermark;
        shuffled.push(event);
    }
    assert!(shuffled != in_order, "groups are shuffled");
    // The same events, each one's content fixed by its id; only positions move,
    // within each group of 10.
    for (group, chunk) in shuffled.chunks(10).enumerate() {
        let mut got = chunk.to_vec();
        let mut want = in_order[group * 10..group * 10 + 10].to_vec();
        got.sort_by_key(Event::to_json);
        want.sort_by_key(Event::to_json);
        assert!(got == want, "group {group}");
    }
    // Emitted position c carries event id c / 10 * 10 + c * 953 % 10 (Beam).
    for (c, event) in shuffled.iter().enumerate() {
        let id = c / 10 * 10 + c * 953 % 10;
        assert!(event == &in_order[id], "position {c}");
    }
    assert!(matches!(shuffled[0], Event::Person(_)));
    assert!(
        matches!(shuffled[1], Event::Auction(_)),
        "position 1 is id 3"
    );
    assert!(matches!(shuffled[2], Event::Bid(_)), "position 2 is id 6");
}

#[test]
fn references_stay_within_beams_windows() {
    let config = config(100_000);
    let events = generate(&config);
    let stats = common::check_references(&config, &events);
    assert!(stats.hot > stats.total / 2, "{stats:?}");
    assert!(stats.ahead > 0, "{stats:?}");
    // Narrow windows exercise the lower bounds.
    let narrow = GeneratorConfig {
        num_active_people: 5,
        num_in_flight_auctions: 3,
        hot_auction_ratio: 1,
        hot_bidders_ratio: 1,
        hot_sellers_ratio: 1,
        ..config
    };
    let events = generate(&narrow);
    let stats = common::check_references(&narrow, &events);
    assert!(
        stats.hot * 50 < stats.total,
        "ratio 1 never picks the hot one: {stats:?}"
    );
    common::check_fields(&events);
}

#[test]
fn fields_are_in_range() {
    let events = generate(&config(50_000));
    common::check_fields(&events);
    let categories: std::collections::BTreeSet<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some(a.category),
            _ => None,
        })
        .collect();
    assert_eq!(categories, (10..15).collect());
}

#[test]
fn auctions_last_about_the_in_flight_horizon() {
    // 100 in-flight auctions take 100 * 50 / 3 = 1666 events = 166 ms at 10 000/s,
    // so lengths are uniform in 1..=333 ms.
    let events = generate(&config(50_000));
    let lengths: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some(a.expires - a.date_time),
            _ => None,
        })
        .collect();
    assert!(
        lengths.iter().all(|l| (1..=333).contains(l)),
        "{:?}",
        lengths.iter().max()
    );
    let mean = lengths.iter().sum::<i64>() as f64 / lengths.len() as f64;
    assert!((157.0..177.0).contains(&mean), "{mean}");
}

#[test]
fn padding_reaches_the_average_sizes() {
    let config = GeneratorConfig {
        avg_person_byte_size: 300,
        ..config(100_000)
    };
    let (mut sizes, mut counts) = ([0usize; 3], [0usize; 3]);
    for event in generate(&config) {
        // Beam's accounting (PersonGenerator, AuctionGenerator, BidGenerator).
        let (i, size) = match &event {
            Event::Person(p) => (
                0,
                8 + p.name.len()
                    + p.email_address.len()
                    + p.credit_card.len()
                    + p.city.len()
                    + p.state.len()
                    + p.extra.len(),
            ),
            Event::Auction(a) => (
                1,
                8 + a.item_name.len() + a.description.len() + 40 + a.extra.len(),
            ),
            Event::Bid(b) => (2, 32 + b.extra.len()),
        };
        sizes[i] += size;
        counts[i] += 1;
    }
    for (i, target) in [300.0, 500.0, 100.0].into_iter().enumerate() {
        let mean = sizes[i] as f64 / counts[i] as f64;
        assert!(
            (mean - target).abs() < target * 0.01 + 1.0,
            "kind {i}: {mean} vs {target}"
        );
    }
}

#[test]
fn json_uses_beams_field_names_and_names_the_kind() {
    let events = generate(&config(5));
    let person: serde_json::Value = serde_json::from_str(&events[0].to_json()).unwrap();
    let keys = |v: &serde_json::Value, kind: &str| -> Vec<String> {
        let object = v.as_object().unwrap();
        assert_eq!(object.len(), 1);
        object[kind].as_object().unwrap().keys().cloned().collect()
    };
    let mut expected = [
        "id",
        "name",
        "emailAddress",
        "creditCard",
        "city",
        "state",
        "dateTime",
        "extra",
    ];
    expected.sort_unstable();
    assert_eq!(keys(&person, "person"), expected);
    let auction: serde_json::Value = serde_json::to_value(&events[1]).unwrap();
    let mut expected = [
        "id",
        "itemName",
        "description",
        "initialBid",
        "reserve",
        "dateTime",
        "expires",
        "seller",
        "category",
        "extra",
    ];
    expected.sort_unstable();
    assert_eq!(keys(&auction, "auction"), expected);
    let bid: serde_json::Value = serde_json::to_value(&events[4]).unwrap();
    let mut expected = [
        "auction", "bidder", "price", "channel", "url", "dateTime", "extra",
    ];
    expected.sort_unstable();
    assert_eq!(keys(&bid, "bid"), expected);
    assert_eq!(person["person"]["id"], 1000);
    assert_eq!(person["person"]["dateTime"], BEAM_BASE_TIME_MS);
    for event in &events {
        let back: Event = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(&back, event);
    }
}

#[test]
fn output_is_pinned() {
    // FNV-1a over the JSON of the first 2000 events of seed 42. A change here changes
    // every stream: it must be deliberate (and is a breaking change for users who
    // compare runs).
    let config = GeneratorConfig {
        seed: 42,
        ..config(2000)
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for event in generate(&config) {
        for byte in event.to_json().bytes().chain([b'\n']) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    assert_eq!(hash, 0x704b_cb81_1979_ab96, "pinned hash: {hash:#018x}");
}

#[test]
fn unbounded_runs_to_beams_cap() {
    let generator = Generator::new(config(0)).unwrap();
    let cap = (i64::MAX as u64 / (50 * 500)) as usize;
    assert_eq!(generator.size_hint(), (cap, Some(cap)));
    assert_eq!(generator.take(10).count(), 10);
}

#[test]
fn defaults_are_beams() {
    let parsed: GeneratorConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(parsed, GeneratorConfig::default());
    let d = GeneratorConfig::default();
    assert_eq!(d.num_events, 100_000);
    assert_eq!((d.first_event_rate, d.next_event_rate), (10_000, None));
    assert_eq!((d.rate_shape, d.rate_period_sec), (RateShape::Sine, 600));
    assert_eq!(d.base_time, 1_436_918_400_000);
    assert_eq!(
        (
            d.hot_auction_ratio,
            d.hot_sellers_ratio,
            d.hot_bidders_ratio
        ),
        (2, 4, 4)
    );
    assert_eq!((d.num_in_flight_auctions, d.num_active_people), (100, 1000));
    assert_eq!(d.out_of_order_group_size, 1);
    assert_eq!(
        (
            d.avg_person_byte_size,
            d.avg_auction_byte_size,
            d.avg_bid_byte_size
        ),
        (200, 500, 100)
    );
    let parsed: GeneratorConfig =
        serde_json::from_str(r#"{"num_events": 5, "rate_shape": "square", "next_event_rate": 7}"#)
            .unwrap();
    assert_eq!(parsed.num_events, 5);
    assert_eq!(parsed.rate_shape, RateShape::Square);
    assert_eq!(parsed.next_event_rate, Some(7));
    let unknown = serde_json::from_str::<GeneratorConfig>(r#"{"num_event": 5}"#).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown field `num_event`"),
        "{unknown}"
    );
}

#[test]
fn config_errors_name_the_field() {
    let cases: [(&str, GeneratorConfig); 9] = [
        (
            "first_event_rate",
            GeneratorConfig {
                first_event_rate: 0,
                ..config(1)
            },
        ),
        (
            "first_event_rate",
            GeneratorConfig {
                first_event_rate: 1_000_001,
                ..config(1)
            },
        ),
        (
            "next_event_rate",
            GeneratorConfig {
                next_event_rate: Some(0),
                ..config(1)
            },
        ),
        (
            "rate_period_sec",
            GeneratorConfig {
                next_event_rate: Some(5),
                rate_period_sec: 0,
                ..config(1)
            },
        ),
        (
            "hot_auction_ratio",
            GeneratorConfig {
                hot_auction_ratio: 0,
                ..config(1)
            },
        ),
        (
            "hot_sellers_ratio",
            GeneratorConfig {
                hot_sellers_ratio: 0,
                ..config(1)
            },
        ),
        (
            "hot_bidders_ratio",
            GeneratorConfig {
                hot_bidders_ratio: 0,
                ..config(1)
            },
        ),
        (
            "out_of_order_group_size",
            GeneratorConfig {
                out_of_order_group_size: 0,
                ..config(1)
            },
        ),
        (
            "out_of_order_group_size",
            GeneratorConfig {
                out_of_order_group_size: 953 * 2,
                ..config(1)
            },
        ),
    ];
    for (field, config) in cases {
        let error: ConfigError = config.validate().unwrap_err();
        assert_eq!(error.field, field);
        let message = error.to_string();
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains("must be"), "{message}");
        assert_eq!(Generator::new(config).unwrap_err(), error);
    }
    // A rate period of 0 is fine when the rate is constant.
    let constant = GeneratorConfig {
        rate_period_sec: 0,
        ..config(1)
    };
    assert!(constant.validate().is_ok());
    assert!(GeneratorConfig::default().validate().is_ok());
}
