//! Hand-made register histories, one tricky case each.

use std::time::Duration;

use om_sim::checker::explain::{explain, render_text};
use om_sim::checker::model::cas_register::{
    CasRegister, RegisterInput as In, RegisterOutput as Out,
};
use om_sim::checker::timeline::render_html;
use om_sim::checker::{check, CheckOptions, History, Operation, Verdict};

fn done(client: u64, invoke: u64, complete: u64, input: In, output: Out) -> Operation<In, Out> {
    Operation::completed(client, invoke, complete, input, output)
}

fn read(value: Option<i64>) -> Out {
    Out::Read { value }
}

fn verdict(operations: Vec<Operation<In, Out>>) -> Verdict {
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(30)),
        workers: 2,
    };
    check(&CasRegister, &History::new(operations), &options).verdict
}

#[test]
fn empty_and_single_operations() {
    assert_eq!(verdict(vec![]), Verdict::Linearizable);
    assert_eq!(
        verdict(vec![done(0, 0, 1, In::read(), read(None))]),
        Verdict::Linearizable
    );
    assert_eq!(
        verdict(vec![done(0, 0, 1, In::read(), read(Some(0)))]),
        Verdict::NotLinearizable
    );
}

#[test]
fn overlapping_operations_may_take_effect_in_either_order() {
    // write(1) overlaps both reads: one read sees it, the other does not yet.
    let history = vec![
        done(0, 0, 100, In::write(1), Out::Write),
        done(1, 10, 20, In::read(), read(None)),
        done(2, 30, 40, In::read(), read(Some(1))),
    ];
    assert_eq!(verdict(history), Verdict::Linearizable);
    // Two overlapping writes: the reads after both may see either, but not change their mind.
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 0, 10, In::write(2), Out::Write),
        done(2, 20, 30, In::read(), read(Some(1))),
    ];
    assert_eq!(verdict(history.clone()), Verdict::Linearizable);
    let mut flip_flop = history;
    flip_flop.push(done(2, 40, 50, In::read(), read(Some(2))));
    assert_eq!(verdict(flip_flop), Verdict::NotLinearizable);
}

#[test]
fn operations_with_equal_boundary_times_are_concurrent() {
    // The write completes at 10 and the read is invoked at 10: either order is allowed.
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 10, 20, In::read(), read(None)),
    ];
    assert_eq!(verdict(history), Verdict::Linearizable);
}

#[test]
fn stale_read_after_a_completed_write_is_refuted_and_explained() {
    let operations = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(0, 20, 30, In::write(2), Out::Write),
        done(1, 40, 50, In::read(), read(Some(1))),
    ];
    let history = History::new(operations);
    let report = check(&CasRegister, &history, &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let explanation = explain(&CasRegister, &history, &report).expect("explained");
    assert_eq!(explanation.blocking, 2, "the stale read cannot be placed");
    assert_eq!(explanation.prefix, vec![(0, Some(1)), (1, Some(2))]);
    assert!(explanation.pending.is_empty());
    let text = render_text(&CasRegister, &history, &report);
    assert!(
        text.contains("cannot place #2 client 1 [40, 50] read -> 1"),
        "{text}"
    );
    assert!(text.contains("state 2"), "{text}");
}

#[test]
fn read_of_a_value_never_written_is_refuted() {
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 5, 15, In::cas(1, 2), Out::Cas { ok: true }),
        done(2, 0, 20, In::read(), read(Some(3))),
    ];
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn failed_cas_completed_and_saw_another_value() {
    // As Porcupine reads Jepsen's `:fail`: the cas happened and the value was not `from`.
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 20, 30, In::cas(1, 2), Out::Cas { ok: false }),
    ];
    assert_eq!(verdict(history), Verdict::NotLinearizable);
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 5, 30, In::cas(1, 2), Out::Cas { ok: false }),
    ];
    assert_eq!(
        verdict(history),
        Verdict::Linearizable,
        "the cas may precede the write"
    );
}

#[test]
fn indeterminate_write_that_must_be_assumed_applied() {
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        Operation::indeterminate(1, 20, In::write(2)),
        done(2, 30, 40, In::read(), read(Some(2))),
    ];
    assert_eq!(verdict(history), Verdict::Linearizable);
}

#[test]
fn indeterminate_write_that_must_not_be_assumed_applied() {
    // Never applied (or applied only after the last read).
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        Operation::indeterminate(1, 20, In::write(2)),
        done(2, 30, 40, In::read(), read(Some(1))),
        done(2, 50, 60, In::read(), read(Some(1))),
    ];
    assert_eq!(verdict(history), Verdict::Linearizable);
    // Applied once, it cannot be undone: 1, 2, then 1 again needs a second write of 1.
    let history = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        Operation::indeterminate(1, 20, In::write(2)),
        done(2, 30, 40, In::read(), read(Some(2))),
        done(2, 50, 60, In::read(), read(Some(1))),
    ];
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn indeterminate_operation_cannot_take_effect_before_its_invocation() {
    let history = vec![
        done(0, 0, 10, In::read(), read(Some(2))),
        Operation::indeterminate(1, 20, In::write(2)),
    ];
    assert_eq!(verdict(history), Verdict::NotLinearizable);
}

#[test]
fn indeterminate_cas_may_have_succeeded_or_failed() {
    let applied = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        Operation::indeterminate(1, 20, In::cas(1, 5)),
        done(2, 30, 40, In::read(), read(Some(5))),
    ];
    assert_eq!(verdict(applied), Verdict::Linearizable);
    let cannot_apply = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        Operation::indeterminate(1, 20, In::cas(3, 5)),
        done(2, 30, 40, In::read(), read(Some(5))),
    ];
    assert_eq!(verdict(cannot_apply), Verdict::NotLinearizable);
}

#[test]
fn keys_are_independent_parts() {
    let operations = vec![
        done(0, 0, 10, In::write(1).on_key(1), Out::Write),
        done(1, 0, 10, In::write(1).on_key(2), Out::Write),
        done(2, 20, 30, In::read().on_key(1), read(Some(1))),
        done(3, 20, 30, In::read().on_key(2), read(None)),
    ];
    let history = History::new(operations);
    let report = check(&CasRegister, &history, &CheckOptions::default());
    assert_eq!(report.parts.len(), 2);
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let (part, refutation) = report.refutation().expect("refuted");
    assert_eq!((part, refutation.blocking), (1, 3), "key 2's stale read");
}

#[test]
fn a_search_that_would_not_finish_answers_unknown() {
    // 40 concurrent writes and a read of a value none wrote: refuting it means trying every
    // subset of writes; a zero budget stops at the first look at the clock.
    let mut operations: Vec<_> = (0..40)
        .map(|client| done(client, 0, 100, In::write(client as i64), Out::Write))
        .collect();
    operations.push(done(40, 50, 60, In::read(), read(Some(-1))));
    operations.push(done(41, 200, 210, In::read(), read(Some(3))));
    let history = History::new(operations);
    let options = CheckOptions {
        timeout: Some(Duration::ZERO),
        workers: 2,
    };
    let report = check(&CasRegister, &history, &options);
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.elapsed < Duration::from_secs(5));
    assert!(render_text(&CasRegister, &history, &report).starts_with("unknown"));
}

#[test]
fn html_timeline_marks_the_failing_operation() {
    let operations = vec![
        done(0, 0, 10, In::write(1), Out::Write),
        done(1, 20, 30, In::read(), read(Some(7))),
        Operation::indeterminate(2, 5, In::write(3)),
    ];
    let history = History::new(operations);
    let report = check(&CasRegister, &history, &CheckOptions::default());
    let page = render_html("stale <read>", &CasRegister, &history, &report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("stale &lt;read&gt;: not-linearizable"));
    assert!(
        page.contains("class=\"op blocking\""),
        "the read is highlighted"
    );
    assert!(page.contains("title=\"#1 client 1 [20, 30] read -&gt; 7"));
    assert!(page.contains("state after: 1"), "states on hover");
    assert!(page.contains("indeterminate"));
    assert_eq!(
        page.matches("class=\"lane-label\"").count(),
        3,
        "one lane per client"
    );
}
