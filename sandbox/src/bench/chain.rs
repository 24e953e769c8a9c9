//! How many AWS calls ran one after the other: the longest chain of sequential round trips.

use std::time::Instant;

/// The longest chain of calls each of which started after the previous one was answered: the number
/// of sequential round trips, measured from the calls' own times (two overlapping calls ran
/// concurrently and count once).
pub fn longest_chain(spans: &[(Instant, Instant)]) -> usize {
    let mut by_end: Vec<(Instant, Instant)> = spans.to_vec();
    by_end.sort_by_key(|(_, end)| *end);
    let mut chain = vec![0usize; by_end.len()];
    for i in 0..by_end.len() {
        let before = (0..i)
            .filter(|&j| by_end[j].1 <= by_end[i].0)
            .map(|j| chain[j])
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn calls_that_waited_for_each_other_count_once_each() {
        let t0 = Instant::now();
        // group || instance, then cluster, then (nodegroup || five reads), then publish.
        let spans = [
            (at(t0, 0), at(t0, 10)),
            (at(t0, 1), at(t0, 9)),
            (at(t0, 11), at(t0, 20)),
            (at(t0, 21), at(t0, 30)),
            (at(t0, 21), at(t0, 35)),
            (at(t0, 22), at(t0, 28)),
            (at(t0, 36), at(t0, 40)),
        ];
        assert_eq!(longest_chain(&spans), 4);
    }

    #[test]
    fn overlapping_calls_are_one_round_trip_and_no_calls_are_none() {
        let t0 = Instant::now();
        assert_eq!(
            longest_chain(&[(at(t0, 0), at(t0, 5)), (at(t0, 1), at(t0, 6))]),
            1
        );
        assert_eq!(longest_chain(&[]), 0);
    }

    #[test]
    fn a_call_started_the_instant_another_was_answered_follows_it() {
        let t0 = Instant::now();
        let spans = [(at(t0, 0), at(t0, 5)), (at(t0, 5), at(t0, 9))];
        assert_eq!(longest_chain(&spans), 2);
    }
}
