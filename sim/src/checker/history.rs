//! Client histories: what each client asked, when, and what it was told.

use std::fmt::Debug;

/// Position of an operation in its [`History`] (the order in which it was recorded).
pub type OperationId = usize;

/// One client call as the client saw it.
///
/// Times are simulated nanoseconds (or, for Jepsen logs, line numbers): only their order matters.
/// An operation whose `complete_ns` is `None` is *indeterminate* (a timeout, a crash): it may have
/// taken effect at any point after its invocation, or never. Its `output` is `None` too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<Input, Output> {
    /// The client that issued the call; a client issues one call at a time.
    pub client: u64,
    /// When the call was sent.
    pub invoke_ns: u64,
    /// When the answer arrived; `None` when it never did.
    pub complete_ns: Option<u64>,
    /// What was asked.
    pub input: Input,
    /// What was answered; `None` for an indeterminate operation.
    pub output: Option<Output>,
}

impl<Input, Output> Operation<Input, Output> {
    /// A completed operation.
    pub fn completed(
        client: u64,
        invoke_ns: u64,
        complete_ns: u64,
        input: Input,
        output: Output,
    ) -> Self {
        assert!(
            invoke_ns <= complete_ns,
            "an operation completes after it is invoked"
        );
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            input,
            output: Some(output),
        }
    }

    /// An operation whose outcome the client never learned.
    pub fn indeterminate(client: u64, invoke_ns: u64, input: Input) -> Self {
        Operation {
            client,
            invoke_ns,
            complete_ns: None,
            input,
            output: None,
        }
    }

    /// True when the client never learned the outcome.
    pub fn is_indeterminate(&self) -> bool {
        self.complete_ns.is_none()
    }
}

/// A recorded history: the operations of all clients, in any order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<Input, Output> {
    /// Every operation; an [`OperationId`] indexes this vector.
    pub operations: Vec<Operation<Input, Output>>,
}

impl<Input, Output> Default for History<Input, Output> {
    fn default() -> Self {
        History {
            operations: Vec::new(),
        }
    }
}

impl<Input, Output> History<Input, Output> {
    /// A history of the given operations.
    pub fn new(operations: Vec<Operation<Input, Output>>) -> Self {
        for operation in &operations {
            if let Some(complete_ns) = operation.complete_ns {
                assert!(
                    operation.invoke_ns <= complete_ns,
                    "completion precedes invocation"
                );
            }
            assert_eq!(operation.complete_ns.is_none(), operation.output.is_none());
        }
        History { operations }
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// True when there is no operation.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Appends an operation and returns its id.
    pub fn push(&mut self, operation: Operation<Input, Output>) -> OperationId {
        self.operations.push(operation);
        self.operations.len() - 1
    }
}
