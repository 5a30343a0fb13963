//! The history parsers' targets: `jepsen_history` (Jepsen etcd logs) and `json_history` (JSON
//! lines of register and OM operations). The bytes are the file's text (invalid UTF-8 replaced).
//!
//! Properties: parsing never panics; an error names a line of the text; a Jepsen history's
//! times are line numbers, and no process has two completed calls open at once; a JSON history
//! written back out parses to the same history.

use crate::checker::history::History;
use crate::checker::jepsen::{self, ParseError};
use crate::checker::json_lines;
use crate::checker::model::cas_register::{RegisterInput, RegisterOutput};
use crate::checker::model::om::{OmOp, OmOutcome};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;

pub fn jepsen_history(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let history = match jepsen::parse(&text) {
        Ok(history) => history,
        Err(error) => return assert_names_a_line(&error, &text),
    };
    let lines = text.lines().count() as u64;
    let mut completed: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for operation in &history.operations {
        assert!((1..=lines).contains(&operation.invoke_ns), "{operation:?}");
        if let Some(complete_ns) = operation.complete_ns {
            assert!(operation.invoke_ns < complete_ns && complete_ns <= lines);
            let calls = completed.entry(operation.client).or_default();
            calls.push((operation.invoke_ns, complete_ns));
        }
    }
    for (process, mut calls) in completed {
        calls.sort_unstable();
        for pair in calls.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "process {process} overlaps itself: {pair:?}"
            );
        }
    }
}

pub fn json_history(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_round_trip::<RegisterInput, RegisterOutput>(&text);
    assert_round_trip::<OmOp, OmOutcome>(&text);
}

fn assert_round_trip<Input, Output>(text: &str)
where
    Input: Serialize + DeserializeOwned + PartialEq + Debug,
    Output: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let history: History<Input, Output> = match json_lines::parse(text) {
        Ok(history) => history,
        Err(error) => return assert_names_a_line(&error, text),
    };
    let written = json_lines::write(&history);
    assert_eq!(
        json_lines::parse::<Input, Output>(&written).as_ref(),
        Ok(&history),
        "written as {written}"
    );
}

fn assert_names_a_line(error: &ParseError, text: &str) {
    let lines = text.lines().count();
    assert!(
        (1..=lines).contains(&error.line),
        "{error} in {lines} lines"
    );
}
