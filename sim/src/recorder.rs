//! Records what clients asked and what they were told, in the checker's terms: the server's
//! requests and answers become the reference model's (`checker::model::om`) by their shared
//! serde shape. A call that ran out of attempts is indeterminate: it may have been applied.
//! Each client instance (a 128-bit id) is one process of the history, numbered 0, 1, 2... in
//! order of first appearance, so a restarted client is a new process.
//!
//! `RETRY_REQUEST_MISMATCH` (a reused call id refused) is recorded as a completed operation
//! with that code, which the model never answers: the linearizability check refutes the
//! history and names the operation, instead of the call passing as a normal outcome.

use crate::checker::history::{History, Operation};
use crate::checker::model::om::{OmErrorCode, OmOp, OmOutcome};
use om_server::client::Unavailable;
use om_server::om::{OmRequest, OmResult};
use om_server::types::ClientId;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The model's form of a server request (both share field and variant names).
pub fn model_op(request: &OmRequest) -> OmOp {
    let value = serde_json::to_value(request).expect("requests serialize");
    serde_json::from_value(value).expect("the model reads every server request")
}

/// The model's form of a server answer; `None` for answers that are not replicated results
/// (`NOT_LEADER`, `LEADER_NOT_READY`, `INTERNAL_ERROR`). `RETRY_REQUEST_MISMATCH` maps to the
/// model's code of that name, which no model step produces.
pub fn model_outcome(result: &OmResult) -> Option<OmOutcome> {
    match result {
        Ok(response) => {
            let value = serde_json::to_value(response).expect("responses serialize");
            Some(Ok(
                serde_json::from_value(value).expect("the model reads every server response")
            ))
        }
        Err(error) => OmErrorCode::from_code(error.code()).map(Err),
    }
}

/// A shared, append-only history of client calls. Cloning shares it.
#[derive(Clone, Default)]
pub struct Recorder {
    state: Arc<Mutex<RecorderState>>,
}

#[derive(Default)]
struct RecorderState {
    operations: Vec<Operation<OmOp, OmOutcome>>,
    /// Client id -> process number, numbered in order of first appearance.
    processes: BTreeMap<ClientId, u64>,
}

impl RecorderState {
    fn process(&mut self, client: ClientId) -> u64 {
        let next = self.processes.len() as u64;
        *self.processes.entry(client).or_insert(next)
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The history's process number of `client` (given on first sight, then kept).
    pub fn process(&self, client: ClientId) -> u64 {
        self.state().process(client)
    }

    /// One call of `client`, invoked and completed at the given simulated times.
    pub fn record(
        &self,
        client: ClientId,
        invoke_ns: u64,
        complete_ns: u64,
        request: &OmRequest,
        outcome: &Result<OmResult, Unavailable>,
    ) {
        let input = model_op(request);
        let output = outcome.as_ref().ok().and_then(model_outcome);
        let mut state = self.state();
        let process = state.process(client);
        let operation = match output {
            Some(output) => Operation::completed(process, invoke_ns, complete_ns, input, output),
            None => Operation::indeterminate(process, invoke_ns, input),
        };
        state.operations.push(operation);
    }

    pub fn history(&self) -> History<OmOp, OmOutcome> {
        History::new(self.state().operations.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::linearizability::{check, CheckOptions, Verdict};
    use crate::checker::model::om::OmSpec;
    use om_server::om::{OmResponse, Quota};
    use om_server::OmError;

    fn create(volume: &str) -> OmRequest {
        OmRequest::CreateVolume {
            volume: volume.into(),
            owner: "o".into(),
            quota: Quota::default(),
        }
    }

    #[test]
    fn client_ids_become_processes_in_order_of_first_appearance() {
        let recorder = Recorder::new();
        let (first, restarted) = (ClientId(u128::MAX - 1), ClientId(3));
        let done = Ok(Ok(OmResponse::Done));
        recorder.record(first, 0, 1, &create("a"), &done);
        recorder.record(restarted, 2, 3, &create("b"), &done);
        recorder.record(first, 4, 5, &create("c"), &done);
        let processes: Vec<u64> = (recorder.history().operations.iter())
            .map(|operation| operation.client)
            .collect();
        assert_eq!(processes, vec![0, 1, 0]);
        assert_eq!(recorder.process(restarted), 1);
        assert_eq!(
            recorder.process(ClientId(0)),
            2,
            "a new client is a new process"
        );
    }

    #[test]
    fn a_refused_reused_call_is_recorded_and_refutes_the_history() {
        let recorder = Recorder::new();
        let client = ClientId(1 << 90);
        recorder.record(client, 0, 1, &create("a"), &Ok(Ok(OmResponse::Done)));
        let refused = Ok(Err(OmError::RetryRequestMismatch));
        recorder.record(client, 2, 3, &create("b"), &refused);
        let history = recorder.history();
        let last = history.operations.last().unwrap();
        assert_eq!(
            last.output,
            Some(Err(OmErrorCode::RetryRequestMismatch)),
            "recorded as completed with its code, not as unknown"
        );
        let options = CheckOptions {
            timeout: Some(std::time::Duration::from_secs(10)),
            workers: 1,
        };
        let report = check(&OmSpec, &history, &options);
        assert_eq!(report.verdict, Verdict::NotLinearizable);
    }
}
