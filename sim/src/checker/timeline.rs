//! An HTML timeline of a checked history: one lane per client, a bar per operation from
//! invocation to completion (dashed to the end for an indeterminate one), the operations that
//! could not be placed highlighted, and on hover the operation, its place in the linearization
//! (or in the longest linearizable prefix) and the model's state after it.
//!
//! Time is drawn by rank (every distinct time one step), so order is exact and short operations
//! stay visible whatever the spread of the times.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use crate::checker::explain::{describe_operation, explain, render_text, states_along};
use crate::checker::history::{History, OperationId};
use crate::checker::linearizability::CheckReport;
use crate::checker::model::Model;

/// Operations drawn at most; past this only the explained part is drawn.
const DRAWN_OPERATIONS_MAX: usize = 20_000;
const STEP_PX: u64 = 14;
const LANE_PX: u64 = 26;
const LABEL_PX: u64 = 90;

/// How an operation is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// In the linearization or the longest prefix.
    Placed,
    /// Could not be placed after the prefix.
    Blocking,
    /// Could have come next, did not help.
    Pending,
    /// Anything else.
    Other,
}

impl Role {
    fn class(self) -> &'static str {
        match self {
            Role::Placed => "placed",
            Role::Blocking => "blocking",
            Role::Pending => "pending",
            Role::Other => "other",
        }
    }
}

/// What a bar shows: its role, its place in the order and the state after it.
struct Annotation {
    role: Role,
    position: Option<usize>,
    state: Option<String>,
}

/// Writes the timeline of `history` to `path` (creating its directory).
pub fn write_html<M: Model>(
    path: &Path,
    title: &str,
    model: &M,
    history: &History<M::Input, M::Output>,
    report: &CheckReport,
) -> std::io::Result<()> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)?;
    }
    std::fs::write(path, render_html(title, model, history, report))
}

/// The timeline as one self-contained HTML page.
pub fn render_html<M: Model>(
    title: &str,
    model: &M,
    history: &History<M::Input, M::Output>,
    report: &CheckReport,
) -> String {
    let annotations = annotate(model, history, report);
    let drawn = drawn_operations(history, report);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style></head><body>\n",
        escape(title),
        STYLE
    );
    let _ = writeln!(page, "<h1>{}: {}</h1>", escape(title), report.verdict);
    let text = render_text(model, history, report);
    let summary = format!(
        "{} operations, {} independent parts, checked in {:.3} ms\n{text}",
        history.len(),
        report.parts.len(),
        report.elapsed.as_secs_f64() * 1e3
    );
    let _ = writeln!(page, "<pre>{}</pre>", escape(&summary));
    page.push_str(LEGEND);
    if drawn.len() < history.len() {
        let _ = writeln!(
            page,
            "<p>Drawn: the {} operations of the explained part.</p>",
            drawn.len()
        );
    }
    draw_lanes(&mut page, model, history, &drawn, &annotations);
    page.push_str("</body></html>\n");
    page
}

/// Which operations to draw: all, or only the explained part of a very large history.
fn drawn_operations(
    history: &History<impl Sized, impl Sized>,
    report: &CheckReport,
) -> Vec<OperationId> {
    if history.len() <= DRAWN_OPERATIONS_MAX {
        return (0..history.len()).collect();
    }
    let part = report
        .refutation()
        .map(|(part, _)| part)
        .or(report.unfinished().map(|(part, _)| part));
    let mut ids = part.map_or_else(Vec::new, |part| report.parts[part].operations.clone());
    ids.truncate(DRAWN_OPERATIONS_MAX);
    ids
}

fn annotate<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    report: &CheckReport,
) -> BTreeMap<OperationId, Annotation> {
    let mut annotations = BTreeMap::new();
    if let Some(explanation) = explain(model, history, report) {
        for (position, (id, state)) in explanation.prefix.iter().enumerate() {
            let state = Some(model.describe_state(state));
            annotations.insert(
                *id,
                Annotation {
                    role: Role::Placed,
                    position: Some(position),
                    state,
                },
            );
        }
        for id in &explanation.pending {
            annotations.insert(
                *id,
                Annotation {
                    role: Role::Pending,
                    position: None,
                    state: None,
                },
            );
        }
        annotations.insert(
            explanation.blocking,
            Annotation {
                role: Role::Blocking,
                position: None,
                state: None,
            },
        );
        return annotations;
    }
    if history.len() > DRAWN_OPERATIONS_MAX {
        return annotations;
    }
    for order in report.linearizations() {
        let states = states_along(model, history, order);
        for (position, (id, state)) in order.iter().zip(states).enumerate() {
            let state = Some(model.describe_state(&state));
            annotations.insert(
                *id,
                Annotation {
                    role: Role::Placed,
                    position: Some(position),
                    state,
                },
            );
        }
    }
    annotations
}

fn draw_lanes<M: Model>(
    page: &mut String,
    model: &M,
    history: &History<M::Input, M::Output>,
    drawn: &[OperationId],
    annotations: &BTreeMap<OperationId, Annotation>,
) {
    let mut times = BTreeSet::new();
    let clients: BTreeSet<u64> = drawn
        .iter()
        .map(|&id| history.operations[id].client)
        .collect();
    for &id in drawn {
        times.insert(history.operations[id].invoke_ns);
        times.extend(history.operations[id].complete_ns);
    }
    let rank: BTreeMap<u64, u64> = times
        .iter()
        .enumerate()
        .map(|(rank, time)| (*time, rank as u64))
        .collect();
    let end = times.len() as u64 + 1;
    let lane: BTreeMap<u64, u64> = clients
        .iter()
        .enumerate()
        .map(|(lane, client)| (*client, lane as u64))
        .collect();
    let _ = writeln!(
        page,
        "<div class=\"timeline\" style=\"width:{}px;height:{}px\">",
        LABEL_PX + (end + 1) * STEP_PX,
        (clients.len() as u64) * LANE_PX
    );
    for (client, lane) in &lane {
        let _ = writeln!(
            page,
            "<div class=\"lane-label\" style=\"top:{}px\">client {client}</div>",
            lane * LANE_PX
        );
    }
    for &id in drawn {
        let operation = &history.operations[id];
        let start = rank[&operation.invoke_ns];
        let stop = operation.complete_ns.map_or(end, |ns| rank[&ns]);
        let annotation = annotations.get(&id);
        let role = annotation.map_or(Role::Other, |annotation| annotation.role);
        let mut tooltip = describe_operation(model, history, id);
        if let Some(position) = annotation.and_then(|annotation| annotation.position) {
            let _ = write!(tooltip, "\nlinearized as #{position}");
        }
        if let Some(state) = annotation.and_then(|annotation| annotation.state.as_ref()) {
            let _ = write!(tooltip, "\nstate after: {state}");
        }
        let label = format!("#{id}");
        let indeterminate = if operation.is_indeterminate() {
            " indeterminate"
        } else {
            ""
        };
        let _ = writeln!(
            page,
            "<div class=\"op {}{indeterminate}\" style=\"left:{}px;top:{}px;width:{}px\" title=\"{}\">{label}</div>",
            role.class(),
            LABEL_PX + start * STEP_PX,
            lane[&operation.client] * LANE_PX + 4,
            ((stop - start) * STEP_PX).max(STEP_PX / 2),
            escape(&tooltip)
        );
    }
    page.push_str("</div>\n");
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px}pre{background:#f4f4f4;padding:8px;overflow-x:auto}\
.timeline{position:relative;overflow:visible;margin-top:12px;border-top:1px solid #ccc}\
.lane-label{position:absolute;left:0;width:84px;font-size:12px;line-height:26px;color:#555}\
.op{position:absolute;height:17px;border-radius:3px;font-size:10px;line-height:17px;text-align:center;\
overflow:hidden;box-sizing:border-box;border:1px solid #666;cursor:default}\
.op:hover{outline:2px solid #000;z-index:2}\
.placed{background:#9fd89f}.blocking{background:#e53935;color:#fff}.pending{background:#ffb74d}\
.other{background:#ddd}.indeterminate{border-style:dashed;opacity:.75}\
.legend span{display:inline-block;padding:2px 8px;margin-right:8px;border:1px solid #666;border-radius:3px}";

const LEGEND: &str = "<p class=\"legend\"><span class=\"placed\">placed in the linearization (or the longest linearizable prefix)</span>\
<span class=\"blocking\">could not be placed</span><span class=\"pending\">could have come next</span>\
<span class=\"other\">not reached</span><span class=\"other indeterminate\">indeterminate (dashed)</span>\
Hover a bar for the operation and the state after it.</p>\n";
