//! A compare-and-set register, one per key: the model of Jepsen's etcd histories.
//!
//! The register starts absent. `read` returns the current value, `write` sets it, `cas(from, to)`
//! sets `to` and answers `ok: true` when the value is `from`, and changes nothing and answers
//! `ok: false` otherwise. Keys are independent: the model always partitions by key, so a state
//! is one `Option<i64>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checker::history::Operation;
use crate::checker::model::Model;

/// A register operation on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegisterInput {
    /// Which register; absent in JSON means key 0.
    #[serde(default)]
    pub key: u64,
    /// What to do.
    #[serde(flatten)]
    pub call: RegisterCall,
}

/// The three calls of a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RegisterCall {
    /// Returns the current value.
    Read,
    /// Sets the value.
    Write {
        /// The new value.
        value: i64,
    },
    /// Sets `to` if the value is `from`.
    Cas {
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
}

/// What a register call answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RegisterOutput {
    /// The value read; `None` when the register was absent.
    Read {
        /// The value, or `null`.
        value: Option<i64>,
    },
    /// The write was applied.
    Write,
    /// Whether the compare-and-set found `from`.
    Cas {
        /// True when the value was `from` (and is now `to`).
        ok: bool,
    },
}

impl RegisterInput {
    /// A read of key 0.
    pub fn read() -> Self {
        RegisterInput {
            key: 0,
            call: RegisterCall::Read,
        }
    }
    /// A write of key 0.
    pub fn write(value: i64) -> Self {
        RegisterInput {
            key: 0,
            call: RegisterCall::Write { value },
        }
    }
    /// A compare-and-set of key 0.
    pub fn cas(from: i64, to: i64) -> Self {
        RegisterInput {
            key: 0,
            call: RegisterCall::Cas { from, to },
        }
    }
    /// The same call on another key.
    pub fn on_key(self, key: u64) -> Self {
        RegisterInput { key, ..self }
    }
}

/// The compare-and-set register model.
#[derive(Clone, Copy, Debug, Default)]
pub struct CasRegister;

impl CasRegister {
    /// Applies a call sequentially: the reference behaviour.
    pub fn apply(state: Option<i64>, call: RegisterCall) -> (Option<i64>, RegisterOutput) {
        match call {
            RegisterCall::Read => (state, RegisterOutput::Read { value: state }),
            RegisterCall::Write { value } => (Some(value), RegisterOutput::Write),
            RegisterCall::Cas { from, to } if state == Some(from) => {
                (Some(to), RegisterOutput::Cas { ok: true })
            }
            RegisterCall::Cas { .. } => (state, RegisterOutput::Cas { ok: false }),
        }
    }
}

impl Model for CasRegister {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Option<Option<i64>> {
        let (next, expected) = CasRegister::apply(*state, input.call);
        match output {
            None => Some(next),
            Some(observed) if *observed == expected => Some(next),
            Some(_) => None,
        }
    }

    fn is_read_only(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> bool {
        let failed_cas = matches!(output, Some(RegisterOutput::Cas { ok: false }));
        input.call == RegisterCall::Read || failed_cas
    }

    fn partition(
        &self,
        operations: &[Operation<RegisterInput, RegisterOutput>],
    ) -> Vec<Vec<usize>> {
        let mut parts: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (index, operation) in operations.iter().enumerate() {
            parts.entry(operation.input.key).or_default().push(index);
        }
        parts.into_values().collect()
    }

    fn describe_operation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let key = if input.key == 0 {
            String::new()
        } else {
            format!("[{}]", input.key)
        };
        let answer = match output {
            None => "?".to_string(),
            Some(RegisterOutput::Read { value }) => describe_value(*value),
            Some(RegisterOutput::Write) => "ok".to_string(),
            Some(RegisterOutput::Cas { ok }) => ok.to_string(),
        };
        match input.call {
            RegisterCall::Read => format!("read{key} -> {answer}"),
            RegisterCall::Write { value } => format!("write{key}({value}) -> {answer}"),
            RegisterCall::Cas { from, to } => format!("cas{key}({from}, {to}) -> {answer}"),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        describe_value(*state)
    }
}

fn describe_value(value: Option<i64>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "nil".to_string(),
    }
}
