//! Checks shared by the example tests and the property tests, written from Beam's
//! rules rather than from the crate's code.

#![allow(dead_code)]

use millrace_nexmark::{Event, GeneratorConfig};

/// What [`check_references`] saw, to show each case was exercised.
#[derive(Debug, Default)]
pub(crate) struct ReferenceStats {
    /// References to the hot person or auction.
    pub(crate) hot: usize,
    /// References to an entity not generated yet (within Beam's lead of 10).
    pub(crate) ahead: usize,
    /// All references.
    pub(crate) total: usize,
}

/// Checks Beam's guarantee on every seller, bidder and auction reference of `events`,
/// an in-order stream (out-of-order group size 1) from event number 0. With `p` the
/// last person and `a` the last auction generated so far (base 0):
/// - a seller or bidder `r` has `r <= p + 10`, and `r >= p + 1 - min(p + 1,
///   num_active_people)` unless it is the hot seller `p / 100 * 100` (sellers) or the
///   hot bidder `p / 100 * 100 + 1` (bidders);
/// - an auction `r` has `r <= a + 10`, and `r >= a - num_in_flight_auctions` unless it
///   is the hot auction `a / 100 * 100`.
pub(crate) fn check_references(config: &GeneratorConfig, events: &[Event]) -> ReferenceStats {
    let mut stats = ReferenceStats::default();
    let mut last_person: Option<u64> = None;
    let mut last_auction: Option<u64> = None;
    let active = u64::from(config.num_active_people);
    let in_flight = u64::from(config.num_in_flight_auctions);
    let check_person = |r: u64, p: u64, hot: u64, what: &str, stats: &mut ReferenceStats| {
        assert!(r >= 1000, "{what} {r} below the first person id");
        let r = r - 1000;
        assert!(
            r <= p + 10,
            "{what} {r} more than 10 ahead of the last person {p}"
        );
        let oldest = p + 1 - (p + 1).min(active);
        assert!(
            r >= oldest || r == hot,
            "{what} {r} older than the active window starting at {oldest}"
        );
        stats.total += 1;
        stats.hot += usize::from(r == hot);
        stats.ahead += usize::from(r > p);
    };
    for event in events {
        match event {
            Event::Person(person) => {
                let expected = last_person.map_or(1000, |p| p + 1000 + 1);
                assert_eq!(person.id, expected, "person ids are consecutive from 1000");
                last_person = Some(person.id - 1000);
            }
            Event::Auction(auction) => {
                let expected = last_auction.map_or(1000, |a| a + 1000 + 1);
                assert_eq!(
                    auction.id, expected,
                    "auction ids are consecutive from 1000"
                );
                last_auction = Some(auction.id - 1000);
                let p = last_person.expect("a person precedes every auction");
                check_person(auction.seller, p, p / 100 * 100, "seller", &mut stats);
            }
            Event::Bid(bid) => {
                let p = last_person.expect("a person precedes every bid");
                check_person(bid.bidder, p, p / 100 * 100 + 1, "bidder", &mut stats);
                let a = last_auction.expect("an auction precedes every bid");
                assert!(bid.auction >= 1000, "auction {} below 1000", bid.auction);
                let r = bid.auction - 1000;
                let hot = a / 100 * 100;
                assert!(
                    r <= a + 10,
                    "auction {r} more than 10 ahead of the last {a}"
                );
                assert!(
                    r >= a.saturating_sub(in_flight) || r == hot,
                    "auction {r} older than the in-flight window of {a}"
                );
                stats.total += 1;
                stats.hot += usize::from(r == hot);
                stats.ahead += usize::from(r > a);
            }
        }
    }
    stats
}

/// Checks the per-event field ranges Beam guarantees.
pub(crate) fn check_fields(events: &[Event]) {
    for event in events {
        match event {
            Event::Person(person) => {
                assert!(["AZ", "CA", "ID", "OR", "WA", "WY"].contains(&person.state.as_str()));
                assert_eq!(person.credit_card.len(), 19, "{}", person.credit_card);
                assert!(person.email_address.ends_with(".com"));
            }
            Event::Auction(auction) => {
                assert!((10..15).contains(&auction.category), "{}", auction.category);
                assert!((100..=100_000_000).contains(&auction.initial_bid));
                assert!(auction.reserve >= auction.initial_bid + 100);
                assert!(auction.expires > auction.date_time);
            }
            Event::Bid(bid) => {
                assert!((100..=100_000_000).contains(&bid.price));
                assert!(bid.url.starts_with("https://www.nexmark.com/"));
                assert!(
                    ["Google", "Facebook", "Baidu", "Apple"].contains(&bid.channel.as_str())
                        || bid.channel.starts_with("channel-")
                );
            }
        }
    }
}
