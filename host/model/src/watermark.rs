//! Watermarks: a source's estimate of how far event time has progressed.
//!
//! A test stream states its watermark outright. Real sources estimate it: a
//! [`BoundedOutOfOrderness`] watermark trails the latest event time seen by a fixed
//! bound, so records at most that far out of order are never late. A source read
//! in partitions (Kafka's) keeps one such watermark per partition and advances to
//! the minimum over the partitions that still have records to come
//! ([`PartitionWatermarks`]), so a partition that is behind, because its producer
//! is slow or its share of the fetches small, makes no other partition's records
//! late; a partition idle for a while stops holding the others back. A partition
//! of a repartition topic, which the tasks of a pipeline's stage before write,
//! takes the least of their watermarks ([`UpstreamWatermarks`]). Inside the
//! pipeline each grouping derives its output watermark from its input watermark and
//! its holds (see [`crate::group`]).
//!
//! ```
//! use millrace_model::watermark::BoundedOutOfOrderness;
//! let mut watermark = BoundedOutOfOrderness::new(30_000);
//! watermark.observe(100_000);
//! watermark.observe(90_000);
//! assert_eq!(watermark.current(), 70_000);
//! ```

use std::collections::BTreeMap;

use crate::time::{MIN_TIMESTAMP, Timestamp};

/// A heuristic watermark that trails the latest event time by a fixed bound.
#[derive(Clone, Copy, Debug)]
pub struct BoundedOutOfOrderness {
    bound: i64,
    latest: Timestamp,
}

impl BoundedOutOfOrderness {
    /// A watermark that assumes records arrive at most `bound` milliseconds out of order.
    pub fn new(bound: i64) -> Self {
        BoundedOutOfOrderness {
            bound,
            latest: MIN_TIMESTAMP,
        }
    }

    /// Notes a record's event time.
    pub fn observe(&mut self, timestamp: Timestamp) {
        self.latest = self.latest.max(timestamp);
    }

    /// The latest event time seen.
    pub fn latest(&self) -> Timestamp {
        self.latest
    }

    /// Continues from a state in which `latest` was the latest event time seen.
    pub fn restore(&mut self, latest: Timestamp) {
        self.latest = latest;
    }

    /// The watermark: the latest event time minus the bound (−∞ before any record).
    pub fn current(&self) -> Timestamp {
        if self.latest == MIN_TIMESTAMP {
            MIN_TIMESTAMP
        } else {
            self.latest.saturating_sub(self.bound)
        }
    }
}

/// The watermark of a source read in partitions: each partition `P` has its own
/// [`BoundedOutOfOrderness`] watermark, and the source's is the minimum over the
/// partitions that are live — neither ended (a bounded read reached its end) nor
/// idle (no records, and no backlog of them, for `idle_after` milliseconds of
/// processing time: see [`PartitionWatermarks::behind`]). A partition
/// that is known but not being read (not assigned to this reader yet) is held:
/// live whatever its idleness, so its records are never late for want of reading
/// them. When every partition is idle the watermark stays where it was, as
/// Flink's does: an idle input says nothing about the event time of its next
/// record. The watermark never moves back, also when a partition joins behind it
/// (its records may then be late).
#[derive(Clone, Debug)]
pub struct PartitionWatermarks<P> {
    bound: i64,
    idle_after: Option<i64>,
    partitions: BTreeMap<P, Partition>,
    emitted: Timestamp,
}

#[derive(Clone, Copy, Debug)]
struct Partition {
    watermark: BoundedOutOfOrderness,
    /// When it last had a record (or began to be read), in processing time.
    active_at: i64,
    ended: bool,
    held: bool,
}

impl<P: Ord> PartitionWatermarks<P> {
    /// Partitions whose records are at most `bound` ms out of order, idle after
    /// `idle_after` ms without records (never, if `None`).
    pub fn new(bound: i64, idle_after: Option<i64>) -> Self {
        PartitionWatermarks {
            bound,
            idle_after,
            partitions: BTreeMap::new(),
            emitted: MIN_TIMESTAMP,
        }
    }

    fn entry(&mut self, partition: P, latest: Timestamp, now: i64) -> &mut Partition {
        let bound = self.bound;
        let state = self
            .partitions
            .entry(partition)
            .or_insert_with(|| Partition {
                watermark: BoundedOutOfOrderness::new(bound),
                active_at: now,
                ended: false,
                held: false,
            });
        if latest > state.watermark.latest() {
            state.watermark.restore(latest);
        }
        state
    }

    /// `partition` is read from processing time `now` on; its latest event time
    /// so far was `latest` (`MIN_TIMESTAMP` for none), or what it had before.
    pub fn read(&mut self, partition: P, latest: Timestamp, now: i64) {
        let state = self.entry(partition, latest, now);
        state.active_at = now;
        state.held = false;
        state.ended = false;
    }

    /// `partition` is known but not read here: it holds the watermark at its
    /// watermark, whatever its idleness, until it is read.
    pub fn hold(&mut self, partition: P, latest: Timestamp, now: i64) {
        self.entry(partition, latest, now).held = true;
    }

    /// Notes a record of `partition` at event time `timestamp`, read at `now`.
    pub fn observe(&mut self, partition: &P, timestamp: Timestamp, now: i64) {
        if let Some(state) = self.partitions.get_mut(partition) {
            state.watermark.observe(timestamp);
            state.active_at = now;
            state.ended = false;
        }
    }

    /// `partition` has records waiting to be read at `now` (a backlog): it is not
    /// idle, however long since its last record came through.
    pub fn behind(&mut self, partition: &P, now: i64) {
        if let Some(state) = self.partitions.get_mut(partition) {
            state.active_at = state.active_at.max(now);
        }
    }

    /// `partition` has no more records to come: it no longer holds the watermark.
    pub fn end(&mut self, partition: &P) {
        if let Some(state) = self.partitions.get_mut(partition) {
            state.ended = true;
        }
    }

    /// How many partitions are tracked, read or held.
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Whether no partition is tracked.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The latest event time seen in `partition`.
    pub fn latest(&self, partition: &P) -> Timestamp {
        self.partitions
            .get(partition)
            .map_or(MIN_TIMESTAMP, |state| state.watermark.latest())
    }

    /// The watermark last emitted.
    pub fn emitted(&self) -> Timestamp {
        self.emitted
    }

    /// Continues from a state in which `emitted` had been emitted.
    pub fn restore_emitted(&mut self, emitted: Timestamp) {
        self.emitted = emitted;
    }

    /// Whether `state` holds the watermark at `now`: not ended, and held or not
    /// idle.
    fn live(&self, state: &Partition, now: i64) -> bool {
        !state.ended
            && (state.held
                || self
                    .idle_after
                    .is_none_or(|idle| now.saturating_sub(state.active_at) < idle))
    }

    /// Whether a record of `partition` at `timestamp`, read at `now`, is behind the
    /// watermark the partitions imply while that is ahead of the one emitted (a
    /// source then starts a new bundle with it, so that the watermark reaches the
    /// steps before it does). Cheap for the common record: one that is not behind
    /// its own live partition's watermark is not behind the least of them.
    pub fn is_behind(&self, partition: &P, timestamp: Timestamp, now: i64) -> bool {
        if let Some(state) = self.partitions.get(partition)
            && self.live(state, now)
            && timestamp >= state.watermark.current()
        {
            return false;
        }
        let implied = self.current(now);
        timestamp < implied && implied > self.emitted
    }

    /// The watermark the partitions imply at processing time `now` (not less than
    /// the one emitted).
    pub fn current(&self, now: i64) -> Timestamp {
        let live = self
            .partitions
            .values()
            .filter(|state| self.live(state, now));
        let mut least = None::<Timestamp>;
        for state in live {
            let own = state.watermark.current();
            least = Some(least.map_or(own, |least| least.min(own)));
        }
        if least.is_none()
            && !self.partitions.is_empty()
            && self.partitions.values().all(|state| state.ended)
        {
            // Every partition ended: nothing more comes.
            least = self
                .partitions
                .values()
                .map(|state| state.watermark.current())
                .max();
        }
        least.map_or(self.emitted, |least| least.max(self.emitted))
    }

    /// The watermark at `now`, if it moved past the one emitted (which it becomes).
    pub fn advance(&mut self, now: i64) -> Option<Timestamp> {
        let current = self.current(now);
        (current > self.emitted).then(|| {
            self.emitted = current;
            current
        })
    }
}

/// The watermark of one partition of a repartition topic. Each of the `tasks`
/// tasks that write it sends its output watermark into every partition with each
/// checkpoint (a *marker*, after the records it covers), so the partition's
/// watermark is the least of the tasks' latest markers. A task not heard from
/// yet holds it at the floor: the partition's watermark when the reader resumed
/// (`MIN_TIMESTAMP` for a first run). It never moves back, also when a restarted
/// task marks less than it had.
#[derive(Clone, Debug)]
pub struct UpstreamWatermarks {
    floor: Timestamp,
    tasks: usize,
    marks: BTreeMap<u32, Timestamp>,
}

impl UpstreamWatermarks {
    /// A partition whose watermark was `floor` when reading (re)started.
    pub fn new(floor: Timestamp) -> Self {
        UpstreamWatermarks {
            floor,
            tasks: 0,
            marks: BTreeMap::new(),
        }
    }

    /// Task `task` of `tasks` marked `watermark`; returns the partition's
    /// watermark. A marker naming more tasks than known raises the count.
    pub fn mark(&mut self, task: u32, tasks: usize, watermark: Timestamp) -> Timestamp {
        self.tasks = self.tasks.max(tasks);
        let mark = self.marks.entry(task).or_insert(watermark);
        *mark = (*mark).max(watermark);
        self.current()
    }

    /// The least of the tasks' marks, not below the floor; the floor while a
    /// task has not marked.
    pub fn current(&self) -> Timestamp {
        let heard = self.marks.len() >= self.tasks;
        let least = self.marks.values().copied().min();
        match least {
            Some(least) if heard => least.max(self.floor),
            _ => self.floor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_watermark_is_the_least_live_partitions() {
        let mut watermarks = PartitionWatermarks::new(10, None);
        watermarks.read(0, MIN_TIMESTAMP, 0);
        watermarks.read(1, MIN_TIMESTAMP, 0);
        watermarks.observe(&0, 100, 0);
        // Partition 1 has had nothing yet: it holds the watermark back.
        assert_eq!(watermarks.advance(0), None);
        watermarks.observe(&1, 50, 0);
        assert_eq!(watermarks.advance(0), Some(40));
        watermarks.observe(&1, 500, 0);
        assert_eq!(watermarks.advance(0), Some(90));
        // A partition that ended no longer holds it.
        watermarks.end(&0);
        assert_eq!(watermarks.advance(0), Some(490));
        watermarks.end(&1);
        assert_eq!(watermarks.current(0), 490);
    }

    #[test]
    fn idle_partitions_stop_holding_the_watermark_until_their_next_record() {
        let mut watermarks = PartitionWatermarks::new(0, Some(1_000));
        watermarks.read("a", MIN_TIMESTAMP, 0);
        watermarks.read("b", MIN_TIMESTAMP, 0);
        watermarks.observe(&"a", 100, 0);
        watermarks.observe(&"b", 10, 0);
        assert_eq!(watermarks.advance(500), Some(10));
        watermarks.observe(&"a", 200, 900);
        // b has been idle for a second: a alone sets the watermark.
        assert_eq!(watermarks.advance(1_000), Some(200));
        // Both idle: the watermark stays, as nothing says where b resumes.
        assert_eq!(watermarks.advance(5_000), None);
        // b's next record makes it live again, behind a: the watermark holds.
        // (A backlog would have kept it live all along: `behind`.)
        watermarks.observe(&"b", 150, 5_000);
        assert_eq!(watermarks.current(5_000), 200);
        watermarks.observe(&"a", 400, 5_000);
        watermarks.observe(&"b", 300, 5_000);
        assert_eq!(watermarks.advance(5_000), Some(300));
    }

    #[test]
    fn a_restored_partition_continues_from_its_latest_event_time() {
        let mut watermarks = PartitionWatermarks::new(5, None);
        watermarks.read(3, 1_000, 0);
        watermarks.restore_emitted(995);
        assert_eq!(watermarks.latest(&3), 1_000);
        assert_eq!(watermarks.advance(0), None);
        watermarks.observe(&3, 1_010, 0);
        // Behind the watermark its predecessors imply, before it is emitted.
        assert!(watermarks.is_behind(&3, 1_000, 0));
        assert!(!watermarks.is_behind(&3, 1_005, 0));
        assert_eq!(watermarks.advance(0), Some(1_005));
        assert!(!watermarks.is_behind(&3, 1_000, 0));
    }

    #[test]
    fn a_partition_not_read_here_holds_the_watermark_however_long_it_waits() {
        let mut watermarks = PartitionWatermarks::new(0, Some(1_000));
        watermarks.hold(1, 500, 0);
        watermarks.read(0, MIN_TIMESTAMP, 0);
        watermarks.observe(&0, 2_000, 0);
        assert_eq!(watermarks.advance(0), Some(500));
        watermarks.observe(&0, 3_000, 60_000);
        assert_eq!(watermarks.advance(60_000), None);
        // Read at last, it becomes idle like any other.
        watermarks.read(1, MIN_TIMESTAMP, 60_000);
        assert_eq!(watermarks.latest(&1), 500);
        watermarks.observe(&0, 3_000, 61_000);
        assert_eq!(watermarks.advance(61_500), Some(3_000));
    }

    #[test]
    fn starts_at_minus_infinity_and_never_regresses() {
        let mut watermark = BoundedOutOfOrderness::new(10);
        assert_eq!(watermark.current(), MIN_TIMESTAMP);
        watermark.observe(100);
        assert_eq!(watermark.current(), 90);
        watermark.observe(50);
        assert_eq!(watermark.current(), 90);
    }

    #[test]
    fn a_repartitioned_partition_waits_for_every_task_that_writes_it() {
        let mut partition = UpstreamWatermarks::new(MIN_TIMESTAMP);
        assert_eq!(partition.mark(0, 3, 50), MIN_TIMESTAMP);
        assert_eq!(partition.mark(2, 3, 70), MIN_TIMESTAMP);
        assert_eq!(partition.mark(1, 3, 60), 50);
        assert_eq!(partition.mark(0, 3, 90), 60);
        // A task resumed from an older checkpoint marks less: nothing moves back.
        assert_eq!(partition.mark(1, 3, 10), 60);
        let mut resumed = UpstreamWatermarks::new(40);
        assert_eq!(resumed.mark(0, 2, 30), 40);
        assert_eq!(resumed.mark(1, 2, 45), 40);
        assert_eq!(resumed.mark(0, 2, 80), 45);
    }

    proptest::proptest! {
        /// Whatever order the markers come in, the partition's watermark never
        /// moves back and is the least of the tasks' latest marks once every task
        /// has marked (the floor before).
        #[test]
        fn an_upstream_watermark_is_the_least_task_mark(
            marks in proptest::collection::vec((0u32..4, -1_000i64..1_000), 0..40),
        ) {
            let mut partition = UpstreamWatermarks::new(MIN_TIMESTAMP);
            let mut latest: BTreeMap<u32, Timestamp> = BTreeMap::new();
            let mut before = MIN_TIMESTAMP;
            for (task, watermark) in marks {
                let now = partition.mark(task, 4, watermark);
                let mark = latest.entry(task).or_insert(watermark);
                *mark = (*mark).max(watermark);
                proptest::prop_assert!(now >= before);
                let expected = if latest.len() == 4 {
                    latest.values().copied().min().unwrap_or(MIN_TIMESTAMP)
                } else {
                    MIN_TIMESTAMP
                };
                proptest::prop_assert_eq!(now, expected);
                before = now;
            }
        }
    }
}
