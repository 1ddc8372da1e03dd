//! How a grouping's state goes into checkpoints and comes back.
//!
//! Each key with windows is one entry (`[step] w [key]`) holding all its windows —
//! a key has few windows, and merging sessions rewrites several of them at once —
//! and the grouping's watermarks and counters are one more (`[step] m`). A snapshot
//! writes only the keys touched since the previous one, and deletes the entries
//! of keys whose last window was collected. A restore rebuilds the timer and hold
//! queues from the windows themselves.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::GroupByKeyAndWindow;
use super::active::ActiveWindows;
use super::state::{QueueKind, WindowState};
use crate::combine::CombineFn;
use crate::pipeline::StepStats;
use crate::state::{KeyReader, StateError, StepReader, StepWriter, Tag, decode};
use crate::time::Timestamp;
use crate::timer::ProcessingClock;

/// The grouping's own entry.
#[derive(Serialize, Deserialize)]
struct Meta {
    input_watermark: Timestamp,
    output_watermark: Timestamp,
    processing_time: ProcessingClock,
    stats: StepStats,
}

impl<C: CombineFn> GroupByKeyAndWindow<C> {
    /// What the grouping's state depends on.
    pub(super) fn description(&self) -> serde_json::Value {
        serde_json::json!({
            "step": self.name,
            "strategy": self.strategy.describe(),
            "combine": self.combine.state_identity(),
            "accumulator": self.combine.accumulator_format(),
            "retains_inputs": self.retain_inputs,
        })
    }

    pub(super) fn write_state(&mut self, state: &mut StepWriter<'_>) -> Result<(), StateError> {
        for (key, windows) in self.active.keys.take_dirty() {
            let entry = state.key(Tag::Windows).key(&key).build();
            if windows.is_empty() {
                state.delete(entry);
            } else {
                state.put(entry, &windows)?;
            }
        }
        let meta = Meta {
            input_watermark: self.input_watermark,
            output_watermark: self.output_watermark,
            processing_time: self.processing_time,
            stats: self.stats,
        };
        let key = state.key(Tag::Meta).build();
        state.put_changed(key, &meta, &mut self.meta_put)
    }

    pub(super) fn read_state(&mut self, state: &StepReader<'_>) -> Result<(), StateError> {
        self.active = ActiveWindows::default();
        self.queues = Default::default();
        let what = format!("{}'s windows", self.name);
        let mut restored = Vec::new();
        state.scan(Tag::Windows, &mut |key, value| {
            let key = KeyReader::new(key).key()?;
            let windows: SmallVec<[WindowState<C::Accumulator>; 1]> = decode(value, &what)?;
            restored.push((key, windows));
            Ok(())
        })?;
        for (key, windows) in restored {
            let id = self.active.restore(&key, windows);
            let Some(slot) = self.active.keys.get_mut(id) else {
                continue;
            };
            for window in slot.windows.iter_mut() {
                for kind in [QueueKind::Event, QueueKind::Processing] {
                    if let Some(time) = window.earliest(kind) {
                        self.queues.schedule(kind, id, window, time);
                    }
                }
                if let Some(gc) = window.gc_timer
                    && !window.event_timers.contains(&gc)
                {
                    self.queues.schedule(QueueKind::Gc, id, window, gc);
                }
                super::hold::schedule(&mut self.queues, id, window);
            }
        }
        self.active.keys.forget_dirty();
        let meta: Option<Meta> = state.get(&state.key(Tag::Meta).build(), &what)?;
        if let Some(meta) = meta {
            self.input_watermark = meta.input_watermark;
            self.output_watermark = meta.output_watermark;
            self.processing_time = meta.processing_time;
            self.stats = meta.stats;
        }
        Ok(())
    }
}
