//! The event generator: Beam's `Generator` and `model/*Generator` for one generator.

use std::iter::FusedIterator;

use crate::config::{
    AUCTION_PROPORTION, ConfigError, GeneratorConfig, PROPORTION_DENOMINATOR, Schedule,
};
use crate::model::{Auction, Bid, Event, Person};
use crate::random::{EventRng, STREAM_CHANNEL_URL, STREAM_EVENT, STREAM_HOT_URL, pow10};

/// Base of person ids (Beam `GeneratorConfig.FIRST_PERSON_ID`).
pub const FIRST_PERSON_ID: u64 = 1000;
/// Base of auction ids (Beam `GeneratorConfig.FIRST_AUCTION_ID`).
pub const FIRST_AUCTION_ID: u64 = 1000;
/// Smallest category id (Beam `GeneratorConfig.FIRST_CATEGORY_ID`).
pub const FIRST_CATEGORY_ID: u64 = 10;
/// Number of categories (Beam `AuctionGenerator.NUM_CATEGORIES`): ids are
/// `FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + NUM_CATEGORIES`.
pub const NUM_CATEGORIES: u64 = 5;
/// How many not-yet-created people a seller or bidder may be
/// (Beam `PersonGenerator.PERSON_ID_LEAD`).
pub const PERSON_ID_LEAD: u64 = 10;
/// How many not-yet-created auctions a bid may be for
/// (Beam `AuctionGenerator.AUCTION_ID_LEAD`).
pub const AUCTION_ID_LEAD: u64 = 10;
/// Hot sellers, bidders and auctions change every this many people or auctions
/// (Beam `HOT_SELLER_RATIO`, `HOT_BIDDER_RATIO`, `HOT_AUCTION_RATIO`).
pub const HOT_BATCH: u64 = 100;

/// Beam `PersonGenerator.US_STATES`.
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
/// Beam `PersonGenerator.US_CITIES`.
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
/// Beam `PersonGenerator.FIRST_NAMES`.
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
/// Beam `PersonGenerator.LAST_NAMES`.
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
/// nexmark-flink `BidGenerator.HOT_CHANNELS`.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// A bid comes from a hot channel with probability `1 - 1/HOT_CHANNELS_RATIO`
/// (nexmark-flink `BidGenerator.HOT_CHANNELS_RATIO`).
const HOT_CHANNELS_RATIO: u64 = 2;
/// Number of ordinary channels (nexmark-flink `BidGenerator.CHANNELS_NUMBER`).
const CHANNELS_NUMBER: u64 = 10_000;

/// The last person id (base 0) created at or before event id `event_id`: the current
/// one when `event_id` is a person (Beam `PersonGenerator.lastBase0PersonId`).
/// People come first in each block of 50, so this is the block number.
pub(crate) fn last_base0_person_id(event_id: u64) -> u64 {
    event_id / PROPORTION_DENOMINATOR
}

/// The last auction id (base 0) created at or before event id `event_id`, for an
/// auction or a bid: the current one when `event_id` is an auction
/// (Beam `AuctionGenerator.lastBase0AuctionId`). For a person it is the last auction of
/// the previous block (none, saturated to 0, before the first).
pub(crate) fn last_base0_auction_id(event_id: u64) -> u64 {
    let epoch = event_id / PROPORTION_DENOMINATOR;
    match event_id % PROPORTION_DENOMINATOR {
        0 => (epoch * AUCTION_PROPORTION).saturating_sub(1),
        offset @ 1..=3 => epoch * AUCTION_PROPORTION + offset - 1,
        _ => epoch * AUCTION_PROPORTION + AUCTION_PROPORTION - 1,
    }
}

/// Generates Nexmark events, one per [`Iterator::next`], until the configured number.
///
/// Every event is a function of the config and its event number alone, so
/// [`Generator::at`] resumes at any event number without generating those before it.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    schedule: Schedule,
    max_events: u64,
    /// Events emitted so far: the number of the next one (Beam `eventsCountSoFar`).
    count: u64,
    /// The URLs of the four hot channels.
    hot_urls: [String; 4],
}

impl Generator {
    /// A generator of the events of `config`, from the first.
    ///
    /// # Errors
    /// The config's first invalid field (see [`GeneratorConfig::validate`]).
    pub fn new(config: GeneratorConfig) -> Result<Self, ConfigError> {
        Self::at(config, 0)
    }

    /// A generator of the events of `config` from event number `event_number` on: it
    /// yields what [`Generator::new`] would after `event_number` events (resuming from
    /// a saved [`Generator::next_event_number`]).
    ///
    /// # Errors
    /// The config's first invalid field (see [`GeneratorConfig::validate`]).
    pub fn at(config: GeneratorConfig, event_number: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let schedule = Schedule::new(&config);
        let max_events = config.max_events();
        let hot_urls = std::array::from_fn(|i| {
            base_url(&mut EventRng::new(config.seed, STREAM_HOT_URL, i as u64))
        });
        Ok(Self {
            config,
            schedule,
            max_events,
            count: event_number,
            hot_urls,
        })
    }

    /// The number of the event the next call to `next` yields (0 for the first): the
    /// position to resume from with [`Generator::at`].
    #[must_use]
    pub fn next_event_number(&self) -> u64 {
        self.count
    }

    /// A lower bound on the event time of every event not yet yielded: the next event's
    /// time, or with out-of-order groups the time of its group's first event number
    /// (Beam's `NextEvent.watermark`).
    #[must_use]
    pub fn watermark(&self) -> i64 {
        self.schedule
            .timestamp(self.schedule.watermark_event_number(self.count))
    }

    /// The config the generator runs.
    #[must_use]
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The event emitted at position `count` (Beam `Generator.nextEvent`, l. 192-237):
    /// its event id picks the kind (1 person, 3 auctions, 46 bids in each block of 50)
    /// and seeds its random choices; its time is the event id's time.
    fn event(&self, count: u64) -> Event {
        let event_id = self.schedule.event_id(count);
        let timestamp = self.schedule.timestamp(event_id);
        let mut rng = EventRng::new(self.config.seed, STREAM_EVENT, event_id);
        match event_id % PROPORTION_DENOMINATOR {
            0 => Event::Person(self.person(event_id, timestamp, &mut rng)),
            1..=3 => Event::Auction(self.auction(event_id, timestamp, &mut rng)),
            _ => Event::Bid(self.bid(event_id, timestamp, &mut rng)),
        }
    }

    /// Beam `PersonGenerator.nextPerson` (l. 54-67).
    fn person(&self, event_id: u64, timestamp: i64, rng: &mut EventRng) -> Person {
        let id = last_base0_person_id(event_id) + FIRST_PERSON_ID;
        let name = format!(
            "{} {}",
            FIRST_NAMES[rng.index(FIRST_NAMES.len())],
            LAST_NAMES[rng.index(LAST_NAMES.len())]
        );
        let email_address = format!("{}@{}.com", next_string(rng, 7), next_string(rng, 5));
        let credit_card = format!(
            "{:04} {:04} {:04} {:04}",
            rng.below(10_000),
            rng.below(10_000),
            rng.below(10_000),
            rng.below(10_000)
        );
        let city = US_CITIES[rng.index(US_CITIES.len())].to_owned();
        let state = US_STATES[rng.index(US_STATES.len())].to_owned();
        let current_size =
            8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = next_extra(rng, current_size, self.config.avg_person_byte_size);
        Person {
            id,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: timestamp,
            extra,
        }
    }

    /// Beam `AuctionGenerator.nextAuction` (l. 50-84).
    fn auction(&self, event_id: u64, timestamp: i64, rng: &mut EventRng) -> Auction {
        let id = last_base0_auction_id(event_id) + FIRST_AUCTION_ID;
        let seller = if rng.below(u64::from(self.config.hot_sellers_ratio)) > 0 {
            // The first person of the current batch of HOT_BATCH people.
            last_base0_person_id(event_id) / HOT_BATCH * HOT_BATCH
        } else {
            self.next_base0_person_id(event_id, rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
        let initial_bid = next_price(rng);
        let expires =
            timestamp.saturating_add(self.next_auction_length_ms(event_id, timestamp, rng));
        let item_name = next_string(rng, 20);
        let description = next_string(rng, 100);
        let reserve = initial_bid + next_price(rng);
        let current_size = 8 + item_name.len() + description.len() + 8 + 8 + 8 + 8 + 8;
        let extra = next_extra(rng, current_size, self.config.avg_auction_byte_size);
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: timestamp,
            expires,
            seller,
            category,
            extra,
        }
    }

    /// Beam `BidGenerator.nextBid` (l. 43-70), with nexmark-flink's channel and URL.
    fn bid(&self, event_id: u64, timestamp: i64, rng: &mut EventRng) -> Bid {
        let auction = if rng.below(u64::from(self.config.hot_auction_ratio)) > 0 {
            // The first auction of the current batch of HOT_BATCH auctions.
            last_base0_auction_id(event_id) / HOT_BATCH * HOT_BATCH
        } else {
            self.next_base0_auction_id(event_id, rng)
        } + FIRST_AUCTION_ID;
        let bidder = if rng.below(u64::from(self.config.hot_bidders_ratio)) > 0 {
            // The second person of the current batch, so that hot bidders and hot
            // sellers differ.
            last_base0_person_id(event_id) / HOT_BATCH * HOT_BATCH + 1
        } else {
            self.next_base0_person_id(event_id, rng)
        } + FIRST_PERSON_ID;
        let price = next_price(rng);
        let (channel, url) = if rng.below(HOT_CHANNELS_RATIO) > 0 {
            let i = rng.index(HOT_CHANNELS.len());
            (HOT_CHANNELS[i].to_owned(), self.hot_urls[i].clone())
        } else {
            let channel = rng.below(CHANNELS_NUMBER);
            (format!("channel-{channel}"), self.channel_url(channel))
        };
        let extra = next_extra(rng, 8 + 8 + 8 + 8, self.config.avg_bid_byte_size);
        Bid {
            auction,
            bidder,
            price,
            channel,
            url,
            date_time: timestamp,
            extra,
        }
    }

    /// A seller or bidder other than the hot one: one of the last `num_active_people`
    /// people or of the next [`PERSON_ID_LEAD`] (Beam `nextBase0PersonId`, l. 70-80).
    fn next_base0_person_id(&self, event_id: u64, rng: &mut EventRng) -> u64 {
        let num_people = last_base0_person_id(event_id) + 1;
        let active = num_people.min(u64::from(self.config.num_active_people));
        num_people - active + rng.below(active + PERSON_ID_LEAD)
    }

    /// An auction other than the hot one: one of the last `num_in_flight_auctions + 1`
    /// auctions or of the next [`AUCTION_ID_LEAD`] (Beam `nextBase0AuctionId`,
    /// l. 110-120).
    fn next_base0_auction_id(&self, event_id: u64, rng: &mut EventRng) -> u64 {
        let max = last_base0_auction_id(event_id);
        let min = max.saturating_sub(u64::from(self.config.num_in_flight_auctions));
        min + rng.below(max - min + 1 + AUCTION_ID_LEAD)
    }

    /// How long an auction lasts, in ms: uniform in `1..=2h`, where `h` is the time
    /// until `num_in_flight_auctions` more auctions have been created, so that about
    /// that many are open at once (Beam `nextAuctionLengthMs`, l. 123-142).
    fn next_auction_length_ms(&self, event_id: u64, timestamp: i64, rng: &mut EventRng) -> i64 {
        let events_for_auctions = u64::from(self.config.num_in_flight_auctions)
            * PROPORTION_DENOMINATOR
            / AUCTION_PROPORTION;
        let future_auction = self
            .schedule
            .timestamp(event_id.saturating_add(events_for_auctions));
        let horizon_ms = future_auction.saturating_sub(timestamp);
        let bound = horizon_ms.saturating_mul(2).max(1) as u64;
        1 + rng.below(bound) as i64
    }

    /// The URL of ordinary channel `channel`: a function of the seed and the channel,
    /// nine in ten with a `channel_id` parameter (nexmark-flink
    /// `BidGenerator.getNextChannelAndurl`).
    fn channel_url(&self, channel: u64) -> String {
        let mut rng = EventRng::new(self.config.seed, STREAM_CHANNEL_URL, channel);
        let mut url = base_url(&mut rng);
        if rng.below(10) > 0 {
            // Java's Math.abs(Integer.reverse(n)), wrapping at i32::MIN as Java does.
            let id = (channel as i32).reverse_bits().wrapping_abs();
            url.push_str("&channel_id=");
            url.push_str(&id.to_string());
        }
        url
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.count >= self.max_events {
            return None;
        }
        let event = self.event(self.count);
        self.count += 1;
        Some(event)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.max_events.saturating_sub(self.count);
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Event> {
        self.count = self.count.saturating_add(n as u64).min(self.max_events);
        self.next()
    }
}

impl FusedIterator for Generator {}

/// A random string of `3..max_len` lower-case letters and spaces, trimmed
/// (Beam `StringsGenerator.nextString`, l. 29-40).
fn next_string(rng: &mut EventRng, max_len: u64) -> String {
    next_string_with(rng, max_len, ' ').trim().to_owned()
}

/// `3..max_len` characters, each `special` with probability 1/13, else a lower-case
/// letter (nexmark-flink's `nextString(random, maxLength, special)`, untrimmed).
fn next_string_with(rng: &mut EventRng, max_len: u64, special: char) -> String {
    const MIN_STRING_LENGTH: u64 = 3;
    let len = MIN_STRING_LENGTH + rng.below(max_len - MIN_STRING_LENGTH);
    (0..len)
        .map(|_| {
            if rng.below(13) == 0 {
                special
            } else {
                char::from(b'a' + rng.below(26) as u8)
            }
        })
        .collect()
}

/// Exactly `len` characters, six from each random `i32` by base-26 digits of a signed
/// number, as Beam does (`StringsGenerator.nextExactString`, l. 43-57): negative draws
/// give characters below `a`, so the alphabet is `H..=z`.
fn next_exact_string(rng: &mut EventRng, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let (mut rnd, mut left) = (0i32, 0);
    for _ in 0..len {
        if left == 0 {
            rnd = rng.next_i32();
            left = 6;
        }
        out.push(char::from((i32::from(b'a') + rnd % 26) as u8));
        rnd /= 26;
        left -= 1;
    }
    out
}

/// Padding such that `current_size` plus its length averages `desired_average`: a
/// length uniform within ±20% of the shortfall (Beam `StringsGenerator.nextExtra`,
/// l. 63-72).
fn next_extra(rng: &mut EventRng, current_size: usize, desired_average: u32) -> String {
    let desired = desired_average as usize;
    if current_size > desired {
        return String::new();
    }
    let shortfall = desired - current_size;
    // Java's (int) Math.round(shortfall * 0.2), in integers.
    let delta = (shortfall + 2) / 5;
    let len = shortfall - delta + if delta == 0 { 0 } else { rng.index(2 * delta) };
    next_exact_string(rng, len)
}

/// A price in cents, log-uniform in `[100, 10^8]` (Beam `PriceGenerator.nextPrice`,
/// l. 27: `round(10^(6u) * 100)`).
fn next_price(rng: &mut EventRng) -> u64 {
    (pow10(rng.next_f64() * 6.0) * 100.0).round() as u64
}

/// `https://www.nexmark.com/xxx/xxx/xxx/item.htm?query=1` with three random path
/// segments (nexmark-flink `BidGenerator.getBaseUrl`).
fn base_url(rng: &mut EventRng) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        url.push_str(&next_string_with(rng, 5, '_'));
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_ids_follow_beam() {
        // Block 0: person 0 at event 0, auctions 0..3 at events 1..4, then bids.
        assert_eq!(last_base0_person_id(0), 0);
        assert_eq!(last_base0_person_id(49), 0);
        assert_eq!(last_base0_person_id(50), 1);
        assert_eq!(last_base0_auction_id(1), 0);
        assert_eq!(last_base0_auction_id(3), 2);
        assert_eq!(last_base0_auction_id(4), 2);
        assert_eq!(last_base0_auction_id(49), 2);
        assert_eq!(last_base0_auction_id(50), 2);
        assert_eq!(last_base0_auction_id(51), 3);
        assert_eq!(last_base0_auction_id(0), 0);
    }

    #[test]
    fn extra_lengths_follow_beam() {
        let mut rng = EventRng::new(0, STREAM_EVENT, 0);
        // Bid: 100 - 32 = 68, delta round(13.6) = 14, length in 54..82.
        for _ in 0..1000 {
            let len = next_extra(&mut rng, 32, 100).len();
            assert!((54..82).contains(&len), "{len}");
        }
        assert_eq!(next_extra(&mut rng, 101, 100), "");
        assert_eq!(next_extra(&mut rng, 98, 100).len(), 2);
        let s = next_exact_string(&mut rng, 10_000);
        assert!(s.bytes().all(|b| (b'H'..=b'z').contains(&b)));
        assert!(
            s.bytes().any(|b| b < b'a'),
            "negative draws give upper characters"
        );
    }

    #[test]
    fn prices_span_beams_range() {
        let mut rng = EventRng::new(7, STREAM_EVENT, 7);
        let prices: Vec<u64> = (0..10_000).map(|_| next_price(&mut rng)).collect();
        assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
        // Log-uniform: about half below 10^5 cents.
        let low = prices.iter().filter(|&&p| p < 100_000).count();
        assert!((4500..5500).contains(&low), "{low}");
    }

    #[test]
    fn channel_urls_are_fixed_per_channel() {
        let generator = Generator::new(GeneratorConfig::default()).unwrap();
        let url = generator.channel_url(42);
        assert_eq!(url, generator.channel_url(42));
        assert!(url.starts_with("https://www.nexmark.com/"), "{url}");
        assert!(url.contains("/item.htm?query=1"), "{url}");
        let with_id = (0..1000)
            .filter(|&c| generator.channel_url(c).contains("&channel_id="))
            .count();
        assert!((850..950).contains(&with_id), "{with_id}");
        // Java's Math.abs(Integer.reverse(2)).
        let two = generator.channel_url(2);
        assert!(!two.contains("channel_id") || two.ends_with("&channel_id=1073741824"));
    }
}
