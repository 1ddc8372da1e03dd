//! The three kinds of Nexmark event, serialised with Beam's JSON field names
//! (`org.apache.beam.sdk.nexmark.model.{Person, Auction, Bid}`); times are
//! milliseconds since the Unix epoch, as Beam's Jackson mapper writes Joda instants.

use serde::{Deserialize, Serialize};

/// A person who can sell and bid (Beam `model/Person.java`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    /// Primary key: 1000, 1001, ... in the order people are created.
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// A made-up address at a made-up `.com` domain.
    pub email_address: String,
    /// Four groups of four digits.
    pub credit_card: String,
    /// One of ten US cities (drawn independently of the state, as in Beam).
    pub city: String,
    /// One of six US state codes.
    pub state: String,
    /// Event time, in milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding that brings the person to its configured average size.
    pub extra: String,
}

/// An item put up for auction by a person (Beam `model/Auction.java`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auction {
    /// Primary key: 1000, 1001, ... in the order auctions are created.
    pub id: u64,
    /// Random lower-case words.
    pub item_name: String,
    /// Random lower-case words.
    pub description: String,
    /// Opening price, in cents.
    pub initial_bid: u64,
    /// Reserve price, in cents; above `initial_bid`.
    pub reserve: u64,
    /// Event time, in milliseconds since the Unix epoch.
    pub date_time: i64,
    /// When the auction closes, in milliseconds since the Unix epoch; after
    /// `date_time`. Bids at or after it are ignored.
    pub expires: i64,
    /// Foreign key: the [`Person::id`] of the seller.
    pub seller: u64,
    /// Foreign key: a category id in `10..15`.
    pub category: u64,
    /// Padding that brings the auction to its configured average size.
    pub extra: String,
}

/// A bid for an auction (Beam `model/Bid.java`, plus the `channel` and `url` of the
/// nexmark-flink benchmark's bid).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bid {
    /// Foreign key: the [`Auction::id`] bid for.
    pub auction: u64,
    /// Foreign key: the [`Person::id`] of the bidder.
    pub bidder: u64,
    /// Price, in cents.
    pub price: u64,
    /// Where the bid came from: one of four hot channels, or `channel-N`.
    pub channel: String,
    /// The URL the bid came through.
    pub url: String,
    /// Event time, in milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding that brings the bid to its configured average size.
    pub extra: String,
}

/// One generated event. Serialises as a one-field JSON object naming its kind:
/// `{"person": {...}}`, `{"auction": {...}}` or `{"bid": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A new bid.
    Bid(Bid),
}

impl Event {
    /// The event time, in milliseconds since the Unix epoch (the `dateTime` field).
    #[must_use]
    pub fn timestamp(&self) -> i64 {
        match self {
            Self::Person(person) => person.date_time,
            Self::Auction(auction) => auction.date_time,
            Self::Bid(bid) => bid.date_time,
        }
    }

    /// The event as one line of JSON, e.g. `{"bid":{"auction":1000,...}}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Plain structs of strings and integers: serialisation cannot fail.
        serde_json::to_string(self).expect("a Nexmark event serialises to JSON")
    }
}
