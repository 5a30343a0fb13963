//! A saved vote is a promise: once the log store said "vote saved" for a term, the node must
//! never read back an older term, whatever crash came between (Raft's election safety rests on
//! it: a node that forgets its vote may vote twice in one term).
//!
//! Checked after the run from the server's own events in the trace ("vote saved term=T" when
//! `save_vote` returns, "vote read term=T" whenever the store is read, at every boot among
//! others), so it holds for every run without the harness knowing when a crash struck.

use super::{Property, Violation};
use std::collections::BTreeMap;

/// The violations in `lines` (trace lines: time, source, event), at most one per node.
pub fn check(lines: &[String]) -> Vec<Violation> {
    let mut saved: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    let mut violations: BTreeMap<&str, Violation> = BTreeMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(time), Some(node)) = (words.next(), words.next()) else {
            continue;
        };
        let event: Vec<&str> = words.collect();
        let term = || {
            (event.iter())
                .find_map(|word| word.strip_prefix("term="))
                .and_then(|term| term.parse::<u64>().ok())
        };
        match event.as_slice() {
            ["vote", "saved", ..] => {
                if let Some(term) = term() {
                    let promised = saved.entry(node).or_insert((term, time));
                    if term >= promised.0 {
                        *promised = (term, time);
                    }
                }
            }
            ["vote", "read", ..] => {
                let (Some(read), Some(&(promised, when))) = (term(), saved.get(node)) else {
                    continue;
                };
                if read < promised && !violations.contains_key(node) {
                    let detail = format!(
                        "{node} saved a vote for term {promised} at {when} s, read term {read} \
                         back at {time} s"
                    );
                    violations.insert(node, Violation::new(Property::DurableVote, detail));
                }
            }
            _ => {}
        }
    }
    violations.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_vote_read_back_older_than_saved_is_a_violation() {
        let trace = lines(
            "  1.000000 om1        vote read term=0\n\
             \x20 2.000000 om1        vote saved term=3 vote=<T3-N2>\n\
             \x20 2.500000 om2        vote saved term=3 vote=<T3-N2>\n\
             \x20 3.000000 om1        vote read term=2\n\
             \x20 4.000000 om2        vote read term=3",
        );
        let violations = check(&trace);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].property, Property::DurableVote);
        assert!(violations[0].detail.contains("om1 saved a vote for term 3"));
    }

    #[test]
    fn newer_or_equal_terms_read_back_pass() {
        let trace = lines(
            "  2.000000 om1        vote saved term=3 vote=<T3-N2>\n\
             \x20 3.000000 om1        vote read term=3\n\
             \x20 4.000000 om1        vote saved term=5 vote=<T5-N1>\n\
             \x20 5.000000 om1        vote read term=6",
        );
        assert!(check(&trace).is_empty());
    }
}
