//! Isolating poison inputs: a batch call to user code that fails as a whole is
//! re-run input by input, so that only the inputs that fail are lost (to dead
//! letters) and the rest go on.

use std::ops::Range;

/// What one attempt at a call produced.
pub enum Attempt<T> {
    /// It worked.
    Done(T),
    /// It failed as a whole (an error value or a fault), with the reason.
    Failed(String),
}

impl<T> Attempt<T> {
    /// Reads what a call that worked returned; an answer that does not fit the call
    /// fails the attempt as a whole.
    pub fn and_then<U>(self, read: impl FnOnce(T) -> Result<U, String>) -> Attempt<U> {
        match self {
            Attempt::Done(value) => match read(value) {
                Ok(read) => Attempt::Done(read),
                Err(reason) => Attempt::Failed(reason),
            },
            Attempt::Failed(reason) => Attempt::Failed(reason),
        }
    }
}

/// The result for each range of items that [`isolate`] attempted.
pub type Isolated<T> = Vec<(Range<usize>, Result<T, String>)>;

/// Runs `call` over `items` at once; if that fails as a whole, runs it on each item
/// alone so that only the items that fail are lost. Returns, per range of items that
/// was attempted, the result. A quarantine stops everything.
pub fn isolate<T>(
    items: usize,
    mut call: impl FnMut(Range<usize>) -> Result<Attempt<T>, String>,
) -> Result<Isolated<T>, String> {
    if items == 0 {
        return Ok(Vec::new());
    }
    match call(0..items)? {
        Attempt::Done(result) => return Ok(vec![(0..items, Ok(result))]),
        Attempt::Failed(reason) if items == 1 => return Ok(vec![(0..1, Err(reason))]),
        Attempt::Failed(_) => {}
    }
    let mut results = Vec::with_capacity(items);
    for index in 0..items {
        let result = match call(index..index + 1)? {
            Attempt::Done(result) => Ok(result),
            Attempt::Failed(reason) => Err(reason),
        };
        results.push((index..index + 1, result));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_retries_each_item_and_keeps_the_good_ones() {
        let results = isolate(3, |range| {
            Ok(if range.contains(&1) {
                Attempt::Failed(format!("bad {range:?}"))
            } else {
                Attempt::Done(range.start)
            })
        })
        .unwrap();
        let summary: Vec<_> = results
            .into_iter()
            .map(|(range, result)| (range.start, result))
            .collect();
        assert_eq!(
            summary,
            vec![(0, Ok(0)), (1, Err("bad 1..2".to_owned())), (2, Ok(2))]
        );
        assert_eq!(
            isolate(2, |_| Ok(Attempt::Done(()))).unwrap().len(),
            1,
            "one call when it works"
        );
        assert_eq!(
            isolate::<()>(2, |_| Err("quarantined".into())).unwrap_err(),
            "quarantined"
        );
    }
}
