//! The Nexmark queries of `examples/nexmark/` through the real binary, each checked
//! against a plain-Rust reference of the query written here, over the same events.
//!
//! Each test runs an example spec (`examples/nexmark/qN.yaml`) on a small seeded
//! run, with its windows scaled down from seconds to milliseconds (the source makes
//! 10 events per millisecond, so a 10 s window would hold the whole run): the
//! replacements are listed in each test and must all apply. The events themselves
//! come from query 0 (a pass-through) with the same source settings: the generator
//! is not what is under test here, the queries are. References use no millrace
//! code; outputs are compared as sorted lists of their meaningful fields (key,
//! window, value), and for windowed queries only the ON_TIME panes the default
//! trigger gives (every pane is checked to be one); q6, whose trigger fires per
//! bundle of winners, is checked pane by pane against the moving means. q3 and q9
//! run on events shuffled in small groups, so that their joins also see the side
//! that usually comes second arrive first.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{parse_lines, root, run};
use serde_json::{Value, json};

/// The source settings of every test: 40,000 events, 4 s of event time.
const SOURCE: &str = "events: 40000, seed: 11";

/// The same, with events shuffled in groups of 500 (50 ms), as Beam's
/// `outOfOrderGroupSize` does: an auction may then come before its seller.
const SHUFFLED: &str = "events: 40000, seed: 11, out_of_order_group_size: 500";

/// Runs the example `examples/nexmark/{query}.yaml` with the source `SOURCE` and
/// each `(from, to)` replacement applied to its text; returns its output records.
fn run_example(query: &str, replacements: &[(&str, &str)]) -> Vec<Value> {
    run_example_on(SOURCE, query, replacements)
}

/// [`run_example`] with the source settings `source`.
fn run_example_on(source: &str, query: &str, replacements: &[(&str, &str)]) -> Vec<Value> {
    let examples = root().join("examples/nexmark");
    let examples = examples.canonicalize().unwrap_or(examples);
    let mut spec = std::fs::read_to_string(examples.join(format!("{query}.yaml"))).unwrap();
    // The copy runs in a folder of its own: its plugins are named by full path.
    let plugins = format!("plugin: {}/", examples.join("plugins").display());
    spec = spec.replace("plugin: plugins/", &plugins);
    let mut all = vec![("events: 1000000", source.to_string())];
    all.extend(
        replacements
            .iter()
            .map(|(from, to)| (*from, to.to_string())),
    );
    for (from, to) in &all {
        assert!(spec.contains(from), "{query}.yaml has no {from:?}");
        spec = spec.replace(from, to);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), &format!("{query}.yaml"), &spec);
    let output = run(&["run", "-q", path.to_str().unwrap()], "");
    assert!(
        output.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dead = read(&dir.path().join(format!("out/{query}.dead.jsonl")));
    assert!(dead.is_empty(), "{query} dead-lettered records: {dead:?}");
    read(&dir.path().join(format!("out/{query}.jsonl")))
}

fn read(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_lines(&text),
        Err(_) => Vec::new(),
    }
}

/// One generated event: its kind (`person`, `auction`, `bid`), its fields and time.
#[derive(Clone, Debug)]
struct Event {
    kind: String,
    fields: Value,
    ts: i64,
}

/// The events of `SOURCE`, read from query 0's output.
fn events() -> Vec<Event> {
    events_of(SOURCE)
}

/// The events of the source settings `source`, in their order of arrival.
fn events_of(source: &str) -> Vec<Event> {
    let records = run_example_on(source, "q0", &[]);
    assert_eq!(records.len(), 40000);
    records
        .iter()
        .map(|record| {
            let (kind, fields) = record["value"].as_object().unwrap().iter().next().unwrap();
            Event {
                kind: kind.clone(),
                fields: fields.clone(),
                ts: record["ts"].as_i64().unwrap(),
            }
        })
        .collect()
}

fn of_kind<'a>(events: &'a [Event], kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    events.iter().filter(move |event| event.kind == kind)
}

fn int(value: &Value, field: &str) -> i64 {
    value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} of {value}"))
}

/// The window of a record as (start, end); panics for the global window.
fn window(record: &Value) -> (i64, i64) {
    (
        int(&record["window"], "start"),
        int(&record["window"], "end"),
    )
}

/// Checks that every record is a final ON_TIME pane of a default trigger, at the
/// end of its window, and not a retraction.
fn assert_on_time(records: &[Value]) {
    for record in records {
        assert_eq!(record["pane"]["timing"], "ON_TIME", "{record}");
        assert_eq!(record["pane"]["last"], true, "{record}");
        assert_eq!(record["retraction"], false, "{record}");
        assert_eq!(int(record, "ts"), window(record).1 - 1, "{record}");
    }
}

/// Checks that no grouping made a record (a per-element query).
fn assert_ungrouped(records: &[Value]) {
    for record in records {
        assert_eq!(record["window"], "global", "{record}");
        assert_eq!(record["pane"]["timing"], "UNKNOWN", "{record}");
        assert_eq!(record["retraction"], false, "{record}");
    }
}

/// Fixed windows of `size` ms aligned at 0: the start of `ts`'s.
fn fixed(ts: i64, size: i64) -> (i64, i64) {
    let start = ts - ts.rem_euclid(size);
    (start, start + size)
}

/// Sliding windows of `size` ms every `period` ms holding `ts`.
fn sliding(ts: i64, size: i64, period: i64) -> Vec<(i64, i64)> {
    let mut start = ts - ts.rem_euclid(period);
    let mut windows = Vec::new();
    while start > ts - size {
        windows.push((start, start + size));
        start -= period;
    }
    windows
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

#[test]
fn q0_passes_every_event_through() {
    let events = events();
    let counts = |kind| of_kind(&events, kind).count();
    assert_eq!(
        (counts("person"), counts("auction"), counts("bid")),
        (800, 2400, 36800)
    );
    for event in &events {
        assert_eq!(int(&event.fields, "dateTime"), event.ts);
    }
    assert_ungrouped(&run_example("q0", &[]));
}

#[test]
fn q1_converts_every_bid_to_euros() {
    let events = events();
    let expected: Vec<(i64, String)> = of_kind(&events, "bid")
        .map(|event| {
            let mut bid = event.fields.clone();
            bid["price"] = json!(int(&bid, "price") * 89 / 100);
            (event.ts, bid.to_string())
        })
        .collect();
    let output = run_example("q1", &[]);
    assert_ungrouped(&output);
    let actual: Vec<(i64, String)> = output
        .iter()
        .map(|record| (int(record, "ts"), record["value"].to_string()))
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

#[test]
fn q2_selects_the_bids_on_every_123rd_auction() {
    let events = events();
    let expected: Vec<(i64, i64, i64)> = of_kind(&events, "bid")
        .filter(|event| int(&event.fields, "auction") % 123 == 0)
        .map(|event| {
            let bid = &event.fields;
            (event.ts, int(bid, "auction"), int(bid, "price"))
        })
        .collect();
    assert!(expected.len() > 50, "the run selects some bids");
    let output = run_example("q2", &[]);
    assert_ungrouped(&output);
    let actual: Vec<(i64, i64, i64)> = output
        .iter()
        .map(|record| {
            let value = &record["value"];
            assert_eq!(value.as_object().unwrap().len(), 2, "{value}");
            (
                int(record, "ts"),
                int(value, "auction"),
                int(value, "price"),
            )
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Query 7 with 100 ms windows for the spec's 10 s.
#[test]
fn q7_finds_the_highest_bids_of_each_fixed_window() {
    const SIZE: i64 = 100;
    let events = events();
    let mut per_window: BTreeMap<(i64, i64), Vec<&Value>> = BTreeMap::new();
    for event in of_kind(&events, "bid") {
        per_window
            .entry(fixed(event.ts, SIZE))
            .or_default()
            .push(&event.fields);
    }
    let mut expected = Vec::new();
    for (window, bids) in &per_window {
        let top = bids.iter().map(|bid| int(bid, "price")).max().unwrap();
        for bid in bids.iter().filter(|bid| int(bid, "price") == top) {
            expected.push((*window, bid.to_string()));
        }
    }
    assert_eq!(per_window.len(), 40, "4 s of bids make 40 windows");
    let output = run_example("q7", &[("size: 10s", "size: 100ms")]);
    assert_on_time(&output);
    let actual: Vec<((i64, i64), String)> = output
        .iter()
        .map(|record| {
            assert_eq!(record["key"], Value::Null);
            (window(record), record["value"].to_string())
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Query 5 with 200 ms windows every 100 ms for the spec's 10 s every 5 s.
#[test]
fn q5_finds_the_hottest_auctions_of_each_sliding_window() {
    const SIZE: i64 = 200;
    const PERIOD: i64 = 100;
    let events = events();
    let mut counts: BTreeMap<(i64, i64), BTreeMap<i64, i64>> = BTreeMap::new();
    for event in of_kind(&events, "bid") {
        for window in sliding(event.ts, SIZE, PERIOD) {
            *counts
                .entry(window)
                .or_default()
                .entry(int(&event.fields, "auction"))
                .or_default() += 1;
        }
    }
    let mut expected = Vec::new();
    for (window, auctions) in &counts {
        let top = *auctions.values().max().unwrap();
        for (auction, count) in auctions {
            if *count == top {
                expected.push((*window, *auction, *count));
            }
        }
    }
    assert_eq!(
        counts.len(),
        41,
        "4 s of bids make 41 windows of 200 ms every 100 ms"
    );
    let output = run_example(
        "q5",
        &[("size: 10s, period: 5s", "size: 200ms, period: 100ms")],
    );
    assert_on_time(&output);
    let actual: Vec<((i64, i64), i64, i64)> = output
        .iter()
        .map(|record| {
            let value = &record["value"];
            assert_eq!(record["key"], value["auction"], "{record}");
            (window(record), int(value, "auction"), int(value, "count"))
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Query 11 with a 50 ms gap for the spec's 10 s.
#[test]
fn q11_counts_the_bids_of_each_bidders_sessions() {
    const GAP: i64 = 50;
    let events = events();
    let mut times: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for event in of_kind(&events, "bid") {
        times
            .entry(int(&event.fields, "bidder"))
            .or_default()
            .push(event.ts);
    }
    // Each bid opens [ts, ts + gap); overlapping windows merge, touching ones do not.
    let mut expected = Vec::new();
    for (bidder, mut times) in times {
        times.sort_unstable();
        let (mut start, mut end, mut count) = (times[0], times[0] + GAP, 0);
        for ts in times {
            if ts >= end {
                expected.push((bidder, (start, end), count));
                (start, count) = (ts, 0);
            }
            end = end.max(ts + GAP);
            count += 1;
        }
        expected.push((bidder, (start, end), count));
    }
    assert!(
        expected.iter().any(|(_, _, count)| *count > 1) && expected.len() > 1000,
        "the run has many sessions, some of several bids"
    );
    let output = run_example("q11", &[("gap: 10s", "gap: 50ms")]);
    assert_on_time(&output);
    let actual: Vec<(i64, (i64, i64), i64)> = output
        .iter()
        .map(|record| {
            (
                int(record, "key"),
                window(record),
                record["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

#[test]
fn q12_counts_each_bidders_bids_per_period_of_processing_time() {
    let events = events();
    let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
    for event in of_kind(&events, "bid") {
        *bids.entry(int(&event.fields, "bidder")).or_default() += 1;
    }
    // How many panes a bidder gets depends on the machine's speed (processing
    // time), so the reference is what holds at any speed: discarding panes of one
    // bidder add up to its bids, EARLY panes as the delay passes, then one final
    // ON_TIME pane of what is left when the global window closes.
    let output = run_example("q12", &[("delay: 10s", "delay: 1ms")]);
    let mut panes: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for record in &output {
        assert_eq!(record["window"], "global", "{record}");
        assert_eq!(record["retraction"], false, "{record}");
        panes.entry(int(record, "key")).or_default().push(record);
    }
    let counts: BTreeMap<i64, i64> = panes
        .iter()
        .map(|(bidder, panes)| (*bidder, panes.iter().map(|p| int(p, "value")).sum()))
        .collect();
    assert_eq!(counts, bids);
    for (bidder, panes) in &panes {
        for (index, pane) in panes.iter().enumerate() {
            assert_eq!(int(&pane["pane"], "index"), index as i64, "bidder {bidder}");
            let last = index + 1 == panes.len();
            let timing = pane["pane"]["timing"].as_str().unwrap_or_default();
            assert!(
                timing == "EARLY" || (last && timing == "ON_TIME"),
                "bidder {bidder}: pane {index} of {} is {timing}",
                panes.len()
            );
        }
    }
    assert!(
        panes
            .values()
            .any(|panes| panes[0]["pane"]["timing"] == "EARLY"),
        "the processing-time trigger fired while the run went on"
    );
}

/// Query 8 with 100 ms windows for the spec's 10 s.
#[test]
fn q8_joins_new_persons_with_their_auctions_of_the_same_window() {
    const SIZE: i64 = 100;
    let events = events();
    let mut expected = Vec::new();
    for person in of_kind(&events, "person") {
        let window = fixed(person.ts, SIZE);
        let id = int(&person.fields, "id");
        for auction in of_kind(&events, "auction") {
            if int(&auction.fields, "seller") == id && fixed(auction.ts, SIZE) == window {
                expected.push((
                    window,
                    id,
                    person.fields["name"].to_string(),
                    int(&auction.fields, "reserve"),
                ));
            }
        }
    }
    let sellers: BTreeSet<i64> = expected.iter().map(|row| row.1).collect();
    assert!(sellers.len() > 20, "the run has new sellers to find");
    let output = run_example("q8", &[("size: 10s", "size: 100ms")]);
    assert_on_time(&output);
    let actual: Vec<((i64, i64), i64, String, i64)> = output
        .iter()
        .map(|record| {
            let value = &record["value"];
            assert_eq!(record["key"], value["id"], "{record}");
            (
                window(record),
                int(value, "id"),
                value["name"].to_string(),
                int(value, "reserve"),
            )
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Query 3 as the spec has it: a continuous join in the global window, on
/// shuffled events so that the join also sees auctions before their seller.
#[test]
fn q3_suggests_western_sellers_category_10_auctions() {
    let events = events_of(SHUFFLED);
    // Where each person and auction arrives, by (kind, id).
    let arrival: BTreeMap<(&str, i64), usize> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| event.kind != "bid")
        .map(|(at, event)| ((event.kind.as_str(), int(&event.fields, "id")), at))
        .collect();
    let sellers: BTreeMap<i64, &Value> = of_kind(&events, "person")
        .filter(|person| ["OR", "ID", "CA"].contains(&person.fields["state"].as_str().unwrap()))
        .map(|person| (int(&person.fields, "id"), &person.fields))
        .collect();
    let mut expected = Vec::new();
    let mut early = 0; // suggestions whose auction arrives before its seller
    for auction in of_kind(&events, "auction") {
        let seller = int(&auction.fields, "seller");
        if int(&auction.fields, "category") != 10 {
            continue;
        }
        if let Some(person) = sellers.get(&seller) {
            if arrival[&("auction", int(&auction.fields, "id"))] < arrival[&("person", seller)] {
                early += 1;
            }
            let text = |field: &str| person[field].as_str().unwrap().to_string();
            expected.push((
                seller,
                text("name"),
                text("city"),
                text("state"),
                int(&auction.fields, "id"),
            ));
        }
    }
    assert!(expected.len() > 50, "the run has suggestions to make");
    assert!(early > 0, "some auctions arrive before their seller");
    let output = run_example_on(SHUFFLED, "q3", &[]);
    assert_ungrouped(&output);
    let actual: Vec<(i64, String, String, String, i64)> = output
        .iter()
        .map(|record| {
            let value = &record["value"];
            let text = |field: &str| value[field].as_str().unwrap().to_string();
            (
                int(record, "key"),
                text("name"),
                text("city"),
                text("state"),
                int(value, "id"),
            )
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Beam's winning bids, in order of arrival: each auction (by id) with its best
/// valid bid, and how many bids arrived before their auction.
fn winning_bids(events: &[Event]) -> (BTreeMap<i64, (&Value, &Value)>, usize) {
    let auctions: BTreeMap<i64, (usize, &Value)> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| event.kind == "auction")
        .map(|(at, event)| (int(&event.fields, "id"), (at, &event.fields)))
        .collect();
    // The best valid bid of each auction, in order of arrival: a bid beats the
    // best so far with a higher price, or the same price made earlier.
    let mut best: BTreeMap<i64, &Value> = BTreeMap::new();
    let mut early = 0; // bids that arrive before their auction
    for (at, event) in events.iter().enumerate().filter(|(_, e)| e.kind == "bid") {
        let bid = &event.fields;
        // Beam's generator lets bids name auctions up to 10 ids ahead, which the
        // run may end before creating: such bids win nothing.
        let Some(&(created, auction)) = auctions.get(&int(bid, "auction")) else {
            continue;
        };
        if at < created {
            early += 1;
        }
        let time = int(bid, "dateTime");
        let open = int(auction, "dateTime") <= time && time < int(auction, "expires");
        if !open || int(bid, "price") < int(auction, "reserve") {
            continue;
        }
        let id = int(auction, "id");
        let better = best.get(&id).is_none_or(|old| {
            let (price, old_price) = (int(bid, "price"), int(old, "price"));
            price > old_price || (price == old_price && time < int(old, "dateTime"))
        });
        if better {
            best.insert(id, bid);
        }
    }
    let winners = best
        .into_iter()
        .map(|(id, bid)| (id, (auctions[&id].1, bid)))
        .collect();
    (winners, early)
}

/// Query 9 on shuffled events, so that some bids arrive before their auction.
#[test]
fn q9_finds_the_winning_bid_of_each_auction() {
    let events = events_of(SHUFFLED);
    let (winners, early) = winning_bids(&events);
    let auctions = of_kind(&events, "auction").count();
    assert!(early > 0, "some bids arrive before their auction");
    let expected: Vec<(i64, i64, String, String)> = winners
        .iter()
        .map(|(id, (auction, bid))| {
            let close = int(auction, "expires") - 1;
            (*id, close, auction.to_string(), bid.to_string())
        })
        .collect();
    assert!(
        expected.len() > 100 && expected.len() < auctions,
        "some auctions are won and some not ({} of {auctions})",
        expected.len(),
    );
    let output = run_example_on(SHUFFLED, "q9", &[]);
    assert_ungrouped(&output);
    let actual: Vec<(i64, i64, String, String)> = output
        .iter()
        .map(|record| {
            let value = &record["value"];
            (
                int(record, "key"),
                int(record, "ts"),
                value["auction"].to_string(),
                value["bid"].to_string(),
            )
        })
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// A mean to a thousandth, for comparing.
fn milli(mean: f64) -> i64 {
    (mean * 1000.0).round() as i64
}

/// Query 4 with 200 ms windows every 100 ms for the spec's 10 s every 5 s.
#[test]
fn q4_averages_the_winning_prices_of_each_category() {
    const SIZE: i64 = 200;
    const PERIOD: i64 = 100;
    let events = events();
    let (winners, _) = winning_bids(&events);
    // A winner counts at its auction's close, `expires - 1`.
    let mut prices: BTreeMap<(i64, (i64, i64)), Vec<i64>> = BTreeMap::new();
    for (auction, bid) in winners.values() {
        for window in sliding(int(auction, "expires") - 1, SIZE, PERIOD) {
            prices
                .entry((int(auction, "category"), window))
                .or_default()
                .push(int(bid, "price"));
        }
    }
    let expected: Vec<(i64, (i64, i64), i64, usize)> = prices
        .iter()
        .map(|((category, window), prices)| {
            let mean = prices.iter().sum::<i64>() as f64 / prices.len() as f64;
            (*category, *window, milli(mean), prices.len())
        })
        .collect();
    assert!(expected.len() > 100, "the run has winners in many windows");
    let output = run_example(
        "q4",
        &[("size: 10s, period: 5s", "size: 200ms, period: 100ms")],
    );
    assert_on_time(&output);
    let actual: Vec<(i64, (i64, i64), i64)> = output
        .iter()
        .map(|record| {
            let mean = record["value"].as_f64().unwrap();
            (int(record, "key"), window(record), milli(mean))
        })
        .collect();
    let expected: Vec<(i64, (i64, i64), i64)> = expected
        .into_iter()
        .map(|(category, window, mean, _)| (category, window, mean))
        .collect();
    assert_eq!(sorted(actual), sorted(expected));
}

/// Query 6: with a trigger per new winner, each seller's panes must be the moving
/// means after successive closes, in order, the last after all of them.
#[test]
fn q6_averages_each_sellers_last_10_winning_prices() {
    let events = events();
    let (winners, _) = winning_bids(&events);
    // Per seller, the winners as (close, dateTime, price), in order of close.
    let mut per_seller: BTreeMap<i64, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for (auction, bid) in winners.values() {
        per_seller.entry(int(auction, "seller")).or_default().push((
            int(auction, "expires") - 1,
            int(bid, "dateTime"),
            int(bid, "price"),
        ));
    }
    // The mean (rounded) of the 10 latest by (dateTime, price), after each close.
    let moving_means = |winners: &mut Vec<(i64, i64, i64)>| -> Vec<i64> {
        winners.sort_unstable();
        let mut means = Vec::new();
        for (at, (close, _, _)) in winners.iter().enumerate() {
            if winners.get(at + 1).is_some_and(|next| next.0 == *close) {
                continue; // winners that close together arrive together
            }
            let mut latest: Vec<(i64, i64)> = winners[..=at].iter().map(|w| (w.1, w.2)).collect();
            latest.sort_unstable();
            let latest = &latest[latest.len().saturating_sub(10)..];
            let sum: i64 = latest.iter().map(|w| w.1).sum();
            means.push((sum as f64 / latest.len() as f64).round() as i64);
        }
        means
    };
    let output = run_example("q6", &[]);
    let mut panes: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    let mut finals: BTreeMap<i64, (String, bool)> = BTreeMap::new();
    for record in &output {
        assert_eq!(record["window"], "global", "{record}");
        assert_eq!(record["retraction"], false, "{record}");
        let timing = record["pane"]["timing"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let last = record["pane"]["last"].as_bool().unwrap_or(false);
        finals.insert(int(record, "key"), (timing, last));
        panes
            .entry(int(record, "key"))
            .or_default()
            .push((int(&record["pane"], "index"), int(record, "value")));
    }
    assert_eq!(
        panes.keys().collect::<Vec<_>>(),
        per_seller.keys().collect::<Vec<_>>(),
        "a pane for each seller with a winner"
    );
    assert!(
        per_seller.values().any(|w| w.len() > 10),
        "some sellers win often"
    );
    for (seller, winners) in &mut per_seller {
        let means = moving_means(winners);
        let panes = &panes[seller];
        let indexes: Vec<i64> = panes.iter().map(|pane| pane.0).collect();
        assert_eq!(
            indexes,
            (0..panes.len() as i64).collect::<Vec<_>>(),
            "seller {seller}"
        );
        // When the input ends the global window expires: as in Beam, its final pane
        // is ON_TIME and last, and (accumulating) repeats the last mean.
        assert_eq!(
            finals[seller],
            ("ON_TIME".to_owned(), true),
            "seller {seller}: the final pane"
        );
        let values: Vec<i64> = panes[..panes.len() - 1].iter().map(|pane| pane.1).collect();
        assert_eq!(
            panes.last().map(|pane| pane.1).as_ref(),
            means.last(),
            "seller {seller}: the last pane"
        );
        assert_eq!(
            values.last(),
            means.last(),
            "seller {seller}: the last early pane"
        );
        // Each pane is the mean after some close, later than the previous pane's.
        let mut rest = means.iter();
        for value in &values {
            assert!(
                rest.any(|mean| mean == value),
                "seller {seller}: panes {values:?} do not follow the means {means:?}"
            );
        }
    }
}
