//! A pipeline's sources, read together.
//!
//! Each poll reads every source that has not ended once, in the spec's order, so
//! that sources interleave deterministically: two test streams alternate line by
//! line (the first source's line first), which is how a test orders events across
//! inputs, and a run resumed from a checkpoint interleaves as the first run did. A source that ends has its watermark
//! advanced to +∞ at once (a bounded input is complete), so a join does not wait for
//! the other inputs to end. A checkpoint records every source's position.

use std::io;
use std::time::Duration;

use serde_json::Value;

use crate::source::{Clock, Poll, Source};
use millrace_model::dead_letter::DeadLetter;
use millrace_model::pipeline::Event;
use millrace_model::time::MAX_TIMESTAMP;

/// How long one poll waits on a source when several are idle: short, since
/// another may have data by then.
const SHARED_WAIT: Duration = Duration::from_millis(20);

/// The sources of a pipeline, by index in the spec.
pub struct SourceSet {
    sources: Vec<Box<dyn Source>>,
    ended: Vec<bool>,
}

impl SourceSet {
    /// The set of `sources`, in the spec's order.
    pub fn new(sources: Vec<Box<dyn Source>>) -> Self {
        SourceSet {
            ended: vec![false; sources.len()],
            sources,
        }
    }

    /// How many sources there are.
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// Reads each source that has not ended once, into `events` tagged with the
    /// source's index. Waits at most `timeout` when none has anything.
    pub fn poll(
        &mut self,
        events: &mut Vec<(usize, Event)>,
        dead: &mut Vec<DeadLetter>,
        timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        let live: Vec<usize> = (0..self.sources.len())
            .filter(|&index| !self.ended[index])
            .collect();
        if live.is_empty() {
            return Ok(Poll::End);
        }
        let wait = match live.len() {
            1 => timeout,
            _ => Some(Duration::ZERO),
        };
        let mut any = false;
        let mut batch = Vec::new();
        for &index in &live {
            any |= self.poll_one(index, &mut batch, events, dead, wait)?;
        }
        if !any && live.len() > 1 && timeout != Some(Duration::ZERO) {
            let wait = timeout.map_or(SHARED_WAIT, |timeout| timeout.min(SHARED_WAIT));
            any |= self.poll_one(live[0], &mut batch, events, dead, Some(wait))?;
        }
        Ok(if self.ended.iter().all(|&ended| ended) {
            Poll::End
        } else if any {
            Poll::Events
        } else {
            Poll::Idle
        })
    }

    /// Polls source `index`; whether it produced anything.
    fn poll_one(
        &mut self,
        index: usize,
        batch: &mut Vec<Event>,
        events: &mut Vec<(usize, Event)>,
        dead: &mut Vec<DeadLetter>,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        let dead_before = dead.len();
        let status = self.sources[index].poll(batch, dead, timeout)?;
        let produced = !batch.is_empty() || dead.len() > dead_before;
        events.extend(batch.drain(..).map(|event| (index, event)));
        match status {
            Poll::End => {
                self.ended[index] = true;
                events.push((index, Event::Watermark(MAX_TIMESTAMP)));
                Ok(true)
            }
            Poll::Events => Ok(true),
            Poll::Idle => Ok(produced),
        }
    }

    /// The clock the pipeline runs on: virtual when every source drives it (test
    /// streams), else the wall clock. `None` when they disagree.
    pub fn clock(&self) -> Option<Clock> {
        let mut clocks = self.sources.iter().map(|source| source.clock());
        let first = clocks.next().unwrap_or(Clock::Wall);
        clocks.all(|clock| clock == first).then_some(first)
    }

    /// Bytes read and total bytes over all sources, when every size is known.
    pub fn progress(&self) -> Option<(u64, u64)> {
        self.sources
            .iter()
            .map(|source| source.progress())
            .try_fold((0, 0), |(done, total), progress| {
                progress.map(|(d, t)| (done + d, total + t))
            })
    }

    /// Records read so far, from all sources.
    pub fn records_read(&self) -> u64 {
        self.sources
            .iter()
            .map(|source| source.records_read())
            .sum()
    }

    /// Whether output should be flushed as it is produced (any input is live).
    pub fn is_live(&self) -> bool {
        self.sources.iter().any(|source| source.is_live())
    }

    /// Where the sources are, to resume from: one source's own position, or the
    /// list of every source's; `None` if any cannot be read again.
    pub fn position(&self) -> Option<Value> {
        let positions: Option<Vec<Value>> = self
            .sources
            .iter()
            .map(|source| source.position())
            .collect();
        let mut positions = positions?;
        Some(match positions.len() {
            1 => positions.remove(0),
            _ => Value::Array(positions),
        })
    }

    /// A checkpoint of every source's current position is complete.
    pub fn checkpointed(&mut self) {
        for source in &mut self.sources {
            source.checkpointed();
        }
    }

    /// Continues every source from `position`, which [`SourceSet::position`]
    /// returned.
    pub fn seek(&mut self, position: &Value) -> io::Result<()> {
        if let [source] = self.sources.as_mut_slice() {
            return source.seek(position);
        }
        let positions = position
            .as_array()
            .filter(|p| p.len() == self.sources.len());
        let Some(positions) = positions else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the checkpoint holds no position for each of the {} sources",
                    self.sources.len()
                ),
            ));
        };
        for (source, position) in self.sources.iter_mut().zip(positions) {
            source.seek(position)?;
        }
        Ok(())
    }
}
