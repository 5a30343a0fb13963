//! Turning a [`CheckReport`] into something a person can act on.

use std::fmt::Write;

use crate::checker::history::{History, OperationId};
use crate::checker::linearizability::{CheckReport, Verdict};
use crate::checker::model::Model;
use crate::checker::search::Refutation;

/// Operations of a prefix shown in a text explanation (the last ones; the HTML shows all).
const TEXT_PREFIX_OPERATIONS_MAX: usize = 12;
/// Pending operations listed in a text explanation.
const TEXT_PENDING_OPERATIONS_MAX: usize = 12;

/// The furthest point a search reached in the part that decides the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation<S> {
    /// The verdict explained (`NotLinearizable`, or `Unknown` with how far the search got).
    pub verdict: Verdict,
    /// Index of the part among `parts`.
    pub part: usize,
    /// Number of independent parts.
    pub parts: usize,
    /// Operations in that part.
    pub part_operations: usize,
    /// The longest linearizable prefix: operations in order, each with the state after it.
    pub prefix: Vec<(OperationId, S)>,
    /// The operation that could not be placed after the prefix.
    pub blocking: OperationId,
    /// The other operations that could have come next.
    pub pending: Vec<OperationId>,
}

/// The states after each operation of `order`, replayed from the initial state.
pub fn states_along<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    order: &[OperationId],
) -> Vec<M::State> {
    let mut state = model.init();
    let mut states = Vec::with_capacity(order.len());
    for &id in order {
        let operation = &history.operations[id];
        state = model
            .step(&state, &operation.input, operation.output.as_ref())
            .expect("a step the search took is legal again: models are deterministic");
        states.push(state.clone());
    }
    states
}

/// The explanation of a refuted (or unfinished) history; `None` when linearizable, or when an
/// unfinished search never reached a return.
pub fn explain<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    report: &CheckReport,
) -> Option<Explanation<M::State>> {
    let (part, refutation): (usize, &Refutation) = match report.verdict {
        Verdict::Linearizable => return None,
        Verdict::NotLinearizable => report.refutation()?,
        Verdict::Unknown => match report.unfinished()? {
            (part, Some(refutation)) => (part, refutation),
            (_, None) => return None,
        },
    };
    let states = states_along(model, history, &refutation.prefix);
    Some(Explanation {
        verdict: report.verdict,
        part,
        parts: report.parts.len(),
        part_operations: report.parts[part].operations.len(),
        prefix: refutation.prefix.iter().copied().zip(states).collect(),
        blocking: refutation.blocking,
        pending: refutation.pending.clone(),
    })
}

/// `#12 client 3 [100, 250] write(4) -> ok`.
pub fn describe_operation<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    id: OperationId,
) -> String {
    let operation = &history.operations[id];
    let complete = operation
        .complete_ns
        .map_or("never".to_string(), |ns| ns.to_string());
    format!(
        "#{id} client {} [{}, {complete}] {}",
        operation.client,
        operation.invoke_ns,
        model.describe_operation(&operation.input, operation.output.as_ref())
    )
}

/// A multi-line explanation of the verdict (empty when linearizable).
pub fn render_text<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    report: &CheckReport,
) -> String {
    let mut text = String::new();
    let Some(explanation) = explain(model, history, report) else {
        if report.verdict == Verdict::Unknown {
            text.push_str("unknown: the budget ran out before the search placed anything\n");
        }
        return text;
    };
    let headline = match explanation.verdict {
        Verdict::Unknown => "unknown: the budget ran out; furthest point reached",
        _ => "not linearizable",
    };
    let _ = writeln!(
        text,
        "{headline}: part {} of {} ({} operations)",
        explanation.part + 1,
        explanation.parts,
        explanation.part_operations
    );
    let blocking = describe_operation(model, history, explanation.blocking);
    let _ = writeln!(
        text,
        "  longest linearizable prefix: {} operations (all that completed before #{} did)",
        explanation.prefix.len(),
        explanation.blocking
    );
    let shown = explanation
        .prefix
        .len()
        .saturating_sub(TEXT_PREFIX_OPERATIONS_MAX);
    if shown > 0 {
        let _ = writeln!(text, "    ... {shown} earlier operations");
    }
    for (id, state) in &explanation.prefix[shown..] {
        let _ = writeln!(
            text,
            "    {}  => {}",
            describe_operation(model, history, *id),
            model.describe_state(state)
        );
    }
    let state = match explanation.prefix.last() {
        Some((_, state)) => model.describe_state(state),
        None => model.describe_state(&model.init()),
    };
    let _ = writeln!(text, "  cannot place {blocking}");
    let _ = writeln!(text, "    after the prefix (state {state})");
    render_pending(model, history, &explanation, &mut text);
    text
}

fn render_pending<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    explanation: &Explanation<M::State>,
    text: &mut String,
) {
    if explanation.pending.is_empty() {
        text.push_str("    and no other operation could have come first\n");
        return;
    }
    let _ = writeln!(
        text,
        "    nor after any placement of the {} other operations pending then:",
        explanation.pending.len()
    );
    for id in explanation.pending.iter().take(TEXT_PENDING_OPERATIONS_MAX) {
        let _ = writeln!(text, "      {}", describe_operation(model, history, *id));
    }
    if explanation.pending.len() > TEXT_PENDING_OPERATIONS_MAX {
        let more = explanation.pending.len() - TEXT_PENDING_OPERATIONS_MAX;
        let _ = writeln!(text, "      ... {more} more");
    }
}
