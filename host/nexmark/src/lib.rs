//! Generates the events of the Nexmark auction benchmark — people, auctions and bids —
//! the way Apache Beam's Nexmark generator does
//! (`sdks/java/testing/nexmark/.../nexmark/sources/generator/`), deterministically.
//!
//! ```
//! use millrace_nexmark::{Event, Generator, GeneratorConfig};
//!
//! let config = GeneratorConfig { num_events: 100, first_event_rate: 1000, ..Default::default() };
//! let events: Vec<Event> = Generator::new(config.clone()).unwrap().collect();
//! assert_eq!(events.len(), 100);
//! assert!(matches!(events[0], Event::Person(_)));
//! assert_eq!(events[7].timestamp(), config.base_time + 7); // 1000 events/s: 1 ms apart
//! // Resuming at an event number gives the same events as running up to it.
//! let resumed: Vec<Event> = Generator::at(config, 60).unwrap().collect();
//! assert_eq!(resumed, events[60..]);
//! assert!(events[4].to_json().starts_with(r#"{"bid":{"auction":1000,"#));
//! ```
//!
//! # What follows Beam exactly
//!
//! Line numbers are those of Beam's files under `sdks/java/testing/nexmark/src/main/
//! java/org/apache/beam/sdk/nexmark/`.
//!
//! - **Kinds and ids.** Event id `e` is a person when `e % 50 == 0`, an auction when
//!   `e % 50` is 1..=3, else a bid (`Generator.java` l. 220-233, `GeneratorConfig.java`
//!   l. 34-45). Person ids are `1000 + e / 50`, auction ids `1000 + 3 * (e / 50) +
//!   (e % 50 - 1)`: consecutive from 1000 (`PersonGenerator.lastBase0PersonId`
//!   l. 86-96, `AuctionGenerator.lastBase0AuctionId` l. 90-107).
//! - **Hot and other references.** With probability `1 - 1/hot_sellers_ratio` an
//!   auction's seller is the first person of the current batch of 100, else uniform
//!   over the last `num_active_people` people and the next 10 (`AuctionGenerator`
//!   l. 57-63, `PersonGenerator.nextBase0PersonId` l. 70-80). A bid's auction is, with
//!   probability `1 - 1/hot_auction_ratio`, the first of the current batch of 100
//!   auctions, else uniform over the last `num_in_flight_auctions + 1` auctions and the
//!   next 10; its bidder is, with probability `1 - 1/hot_bidders_ratio`, the second
//!   person of the current batch, else as for sellers (`BidGenerator.nextBid`
//!   l. 43-70, `AuctionGenerator.nextBase0AuctionId` l. 110-120). So, with `P` the last
//!   person id (base 0) and `A` the last auction id created at or before the event,
//!   every reference satisfies exactly (tested):
//!   - seller, bidder (base 0): `r <= P + 10`, and `r >= P + 1 - min(P + 1,
//!     num_active_people)` unless `r` is the hot seller `P / 100 * 100` or the hot
//!     bidder `P / 100 * 100 + 1`;
//!   - auction (base 0): `r <= A + 10`, and `r >= A - num_in_flight_auctions` unless
//!     `r` is the hot auction `A / 100 * 100`.
//!
//!   That is: a reference is to an entity already generated, or to one of the next 10
//!   (Beam's `PERSON_ID_LEAD` / `AUCTION_ID_LEAD`, "events appear to have been swapped
//!   in time"); it is never to an entity that will not exist once the stream has run
//!   10 persons (or auctions) further.
//! - **Field values.** Names, emails, credit cards, the 10 cities and 6 states
//!   (`PersonGenerator` l. 40-51, 54-67, 99-130); category `10 + uniform(5)`; prices
//!   `round(10^(6u) * 100)` cents, in `[100, 10^8]` (`PriceGenerator` l. 27); reserve
//!   `initialBid + price`; item names and descriptions from `nextString`
//!   (`StringsGenerator` l. 29-40); auction length `1 + uniform(max(2h, 1))` ms, `h`
//!   the time until `num_in_flight_auctions` more auctions exist
//!   (`AuctionGenerator.nextAuctionLengthMs` l. 123-142); the random draws in Beam's
//!   order.
//! - **Padding.** `extra` brings each event to `avg_*_byte_size` on average, by Beam's
//!   accounting (`8 + string lengths` for people, `8 + name + description + 40` for
//!   auctions, `32` for bids), with a length uniform within ±20% of the shortfall, of
//!   characters made as Beam's `nextExactString` makes them (`StringsGenerator`
//!   l. 43-72), including its quirk that negative draws add the characters `H` to
//!   `` ` `` to `a..=z`.
//! - **Event time.** Event number `n` happens at `base_time + n * delay_us / 1000`
//!   with `delay_us = round(10^6 / first_event_rate)` for a constant rate, and through
//!   Beam's square or 10-step sine schedule otherwise (`GeneratorConfig` l. 116-124,
//!   267-288; `NexmarkUtils.RateShape.interEventDelayUs` / `stepLengthSec`). With
//!   `out_of_order_group_size = k > 1` the `c`-th event emitted is event id
//!   `c / k * k + c * 953 % k`, carrying that id's time, and the watermark is the time
//!   of `c / k * k` (`GeneratorConfig` l. 245-261). Defaults, including the base time
//!   2015-07-15T00:00:00Z, are `NexmarkConfiguration`'s and `NexmarkUtils.BASE_TIME`.
//! - **Count and resumption.** `num_events = 0` means Beam's cap `i64::MAX / (50 *
//!   largest average size)` (`GeneratorConfig` l. 103-113); a generator resumes from an
//!   event number, as Beam's checkpoint of `eventsCountSoFar` does.
//!
//! # What is simplified or changed
//!
//! - **Random numbers.** Beam seeds `java.util.Random` with the event id
//!   (`Generator.java` l. 218); here each event gets a xoshiro256++ seeded from
//!   `(seed, event id)`, with unbiased bounded draws, so the events are not Beam's
//!   bit for bit but have the same distributions, and `seed` gives other streams. For
//!   bounds of 2^31 and more Beam's `LongGenerator.nextLong` (l. 26-33) is skewed; ours
//!   is uniform. `10^x` and the sine steps avoid the platform `libm` so that the same
//!   seed gives the same events on every machine.
//! - **One generator.** Beam splits a run over `numEventGenerators` (default 100)
//!   generators on parallel timelines, each at `1/numEventGenerators` of the rate; here
//!   there is one generator at the whole rate (`first_event_id` and
//!   `first_event_number` 0), so event numbers and times are global. Rates are events
//!   per second (no `rateUnit`), at most 10^6.
//! - **Not generated here.** Beam's wall-clock pacing, `isRateLimited`,
//!   `useWallclockEventTime` (set `base_time` instead) and the source's occasional
//!   delayed events (`probDelayedEvent`, `occasionalDelaySec`, in
//!   `UnboundedEventSource`) belong to a source that emits the events, not to the
//!   generator.
//! - **`next_event_rate`** defaults to the first rate (Beam's defaults to 10 000).
//! - **Validation.** Configs Beam would divide by zero on, rates above 10^6/s and
//!   out-of-order group sizes that are multiples of 953 (for which Beam's shuffle
//!   repeats ids) are rejected by [`GeneratorConfig::validate`].
//! - **Bid `channel` and `url`.** Beam's bid has neither; they are the nexmark-flink
//!   benchmark's (`nexmark-flink/.../generator/model/BidGenerator.java`): one of four
//!   hot channels with probability 1/2, else `channel-N` for `N` uniform below 10 000,
//!   with a URL of three random path segments plus, for nine channels in ten,
//!   `&channel_id=` and the bit-reversed channel number. nexmark-flink draws those URLs
//!   from an unseeded `Random` per process; here they are a function of `seed` and the
//!   channel. The bid's padding still counts 32 bytes, as Beam's does.

mod config;
mod generator;
mod model;
mod random;

pub use config::{BEAM_BASE_TIME_MS, ConfigError, GeneratorConfig, MAX_EVENT_RATE, RateShape};
pub use generator::{
    AUCTION_ID_LEAD, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, Generator, HOT_BATCH,
    NUM_CATEGORIES, PERSON_ID_LEAD,
};
pub use model::{Auction, Bid, Event, Person};
