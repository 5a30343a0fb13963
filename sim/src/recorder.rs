//! Records what clients asked and what they were told, in the checker's terms: the server's
//! requests and answers become the reference model's (`checker::model::om`) by their shared
//! serde shape. A call that ran out of attempts is indeterminate: it may have been applied.

use crate::checker::history::{History, Operation};
use crate::checker::model::om::{OmErrorCode, OmOp, OmOutcome};
use om_server::client::Unavailable;
use om_server::om::{OmRequest, OmResult};
use std::sync::{Arc, Mutex};

/// The model's form of a server request (both share field and variant names).
pub fn model_op(request: &OmRequest) -> OmOp {
    let value = serde_json::to_value(request).expect("requests serialize");
    serde_json::from_value(value).expect("the model reads every server request")
}

/// The model's form of a server answer; `None` for answers that are not replicated results
/// (`NOT_LEADER`, `LEADER_NOT_READY`, `INTERNAL_ERROR`).
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
    operations: Arc<Mutex<Vec<Operation<OmOp, OmOutcome>>>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// One call of `client`, invoked and completed at the given simulated times.
    pub fn record(
        &self,
        client: u64,
        invoke_ns: u64,
        complete_ns: u64,
        request: &OmRequest,
        outcome: &Result<OmResult, Unavailable>,
    ) {
        let input = model_op(request);
        let output = outcome.as_ref().ok().and_then(model_outcome);
        let operation = match output {
            Some(output) => Operation::completed(client, invoke_ns, complete_ns, input, output),
            None => Operation::indeterminate(client, invoke_ns, input),
        };
        self.operations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(operation);
    }

    pub fn history(&self) -> History<OmOp, OmOutcome> {
        History::new(
            self.operations
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
    }
}
