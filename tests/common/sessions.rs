//! Out-of-order per-user scores whose sessions merge after firing, and what a batch
//! run over them computes: the reference for retraction tests.

use std::collections::BTreeMap;

/// The sessions' final sums per (key, hour of the session's end), each list sorted.
pub fn hourly_session_sums(events: &[(&str, i64, i64)]) -> BTreeMap<(String, i64), Vec<i64>> {
    let mut hours: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for (key, _, end, sum) in batch_sessions(events, 10 * 60_000) {
        let hour = (end - 1) - (end - 1).rem_euclid(3_600_000);
        hours.entry((key, hour)).or_default().push(sum);
    }
    for sums in hours.values_mut() {
        sums.sort_unstable();
    }
    hours
}

/// Per-user scores arriving out of order, so that sessions (gap 10m) merge after
/// they have fired early panes.
pub fn merging_events() -> Vec<(&'static str, i64, i64)> {
    const M: i64 = 60_000;
    vec![
        ("ann", 5, 0),
        ("ann", 7, 25 * M),
        ("bob", 1, 3 * M),
        ("ann", 3, 45 * M),
        ("bob", 4, 70 * M),
        // Bridges ann's first two sessions, then the merged session and the third.
        ("ann", 2, 8 * M),
        ("ann", 6, 17 * M),
        ("ann", 1, 35 * M),
        ("bob", 9, 62 * M),
        ("ann", 4, 100 * M),
        // cy's session first ends at 1:00, so its early pane lands in hour 0; the
        // merge moves it into hour 1, withdrawing it from hour 0.
        ("cy", 10, 50 * M),
        ("cy", 1, 58 * M),
    ]
}

pub fn test_stream(events: &[(&str, i64, i64)]) -> String {
    let mut lines = String::new();
    for (key, value, ts) in events {
        lines.push_str(&format!(
            "{{\"add\": [{{\"key\": \"{key}\", \"value\": {value}, \"ts\": {ts}}}]}}\n"
        ));
    }
    lines
}

/// The sessions of a batch run: per key, sorted timestamps merged with a gap.
pub fn batch_sessions(events: &[(&str, i64, i64)], gap: i64) -> Vec<(String, i64, i64, i64)> {
    let mut per_key: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for (key, value, ts) in events {
        per_key.entry(key).or_default().push((*ts, *value));
    }
    let mut sessions = Vec::new();
    for (key, mut points) in per_key {
        points.sort_unstable();
        let mut current: Option<(i64, i64, i64)> = None;
        for (ts, value) in points {
            current = match current {
                Some((start, end, sum)) if ts < end => {
                    Some((start, end.max(ts + gap), sum + value))
                }
                Some(done) => {
                    sessions.push((key.to_owned(), done.0, done.1, done.2));
                    Some((ts, ts + gap, value))
                }
                None => Some((ts, ts + gap, value)),
            };
        }
        if let Some(done) = current {
            sessions.push((key.to_owned(), done.0, done.1, done.2));
        }
    }
    sessions
}

/// Sessions (gap 10m) firing early and late panes with retractions into a first
/// combine, then hourly windows accumulating a second combine over the session results.
pub fn two_stage_spec(first: &str, second: &str) -> String {
    format!(
        "source: {{ test_stream: input.jsonl }}
steps:
  - window:
      sessions: {{ gap: 10m }}
      trigger: {{ after_watermark: {{ early: {{ after_count: 1 }}, late: {{ after_count: 1 }} }} }}
      accumulation: retracting
      allowed_lateness: 1d
  - combine: {first}
  - window:
      fixed: {{ size: 1h }}
      trigger: {{ repeatedly: {{ after_count: 1 }} }}
      accumulation: accumulating
  - combine: {second}
sink: {{ stdout: {{}} }}
"
    )
}
