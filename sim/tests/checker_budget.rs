//! One budget for all parts: a quick refutation is found however hard the other parts are, an
//! undecidable history ends `unknown`, and the memo stays within its memory limit.

use std::time::Duration;

use om_sim::checker::explain::render_text;
use om_sim::checker::model::cas_register::{
    CasRegister, RegisterInput as In, RegisterOutput as Out,
};
use om_sim::checker::{
    check, check_with_limits, CheckOptions, History, Operation, SearchLimits, SearchOutcome,
    Verdict,
};

type Op = Operation<In, Out>;

fn done(client: u64, invoke: u64, complete: u64, input: In, output: Out) -> Op {
    Operation::completed(client, invoke, complete, input, output)
}

/// On `key`: 40 concurrent writes, then a read of a value none wrote. Refuting it means trying
/// every subset of the writes: it never finishes.
fn hard(key: u64, first_client: u64) -> Vec<Op> {
    let mut operations: Vec<Op> = (0..40)
        .map(|n| {
            let write = In::write(n as i64).on_key(key);
            done(first_client + n, 0, 100, write, Out::Write)
        })
        .collect();
    let read = In::read().on_key(key);
    operations.push(done(
        first_client + 40,
        50,
        60,
        read,
        Out::Read { value: Some(-1) },
    ));
    operations
}

/// On `key`: a read that misses a write completed before it (refuted in a few steps).
fn stale(key: u64, client: u64) -> Vec<Op> {
    vec![
        done(client, 0, 10, In::write(1).on_key(key), Out::Write),
        done(
            client + 1,
            20,
            30,
            In::read().on_key(key),
            Out::Read { value: None },
        ),
    ]
}

/// `count` linearizable writes and reads on keys from `first_key` on (to reach the size at
/// which parts are searched on two threads).
fn easy(first_key: u64, count: u64) -> Vec<Op> {
    (0..count)
        .map(|n| {
            let key = first_key + n % 100;
            let time = 1000 + n * 10;
            done(
                10_000 + n,
                time,
                time + 5,
                In::write(7).on_key(key),
                Out::Write,
            )
        })
        .collect()
}

fn options(timeout: Duration) -> CheckOptions {
    CheckOptions {
        timeout: Some(timeout),
        workers: 2,
    }
}

/// Index of the part holding operation `id`.
fn part_of(report: &om_sim::checker::CheckReport, id: usize) -> usize {
    report
        .parts
        .iter()
        .position(|part| part.operations.contains(&id))
        .expect("every operation is in a part")
}

#[test]
fn a_quickly_refuted_part_ends_the_check_although_earlier_parts_are_hard() {
    for padding in [0, 3000] {
        // Keys 0 and 1 are hard, key 2 is refuted at once; keys 3.. are easy.
        let mut operations = hard(0, 0);
        operations.extend(hard(1, 100));
        let stale_read = operations.len() + 1;
        operations.extend(stale(2, 200));
        operations.extend(easy(3, padding));
        let history = History::new(operations);
        let report = check(&CasRegister, &history, &options(Duration::from_secs(60)));
        assert_eq!(
            report.verdict,
            Verdict::NotLinearizable,
            "padding {padding}"
        );
        let (part, refutation) = report.refutation().expect("explained");
        assert_eq!(part, part_of(&report, stale_read));
        assert_eq!(refutation.blocking, stale_read);
        assert_eq!(report.parts[0].outcome, SearchOutcome::Cancelled);
        assert!(
            render_text(&CasRegister, &history, &report).starts_with("not linearizable: part 3 of")
        );
    }
}

#[test]
fn the_lowest_part_refuted_in_the_first_refuting_round_explains_the_verdict() {
    // Key 1's refutation takes hundreds of steps, key 2's a few: both fall in the first round,
    // and key 2's part may well finish first on the other thread.
    let mut operations = hard(0, 0);
    let mut slower = hard(1, 100);
    slower.truncate(6);
    slower.push(done(
        140,
        200,
        210,
        In::read().on_key(1),
        Out::Read { value: Some(-1) },
    ));
    operations.extend(slower);
    operations.extend(stale(2, 200));
    operations.extend(easy(3, 3000));
    let history = History::new(operations);
    let expected = part_of(
        &check(&CasRegister, &history, &options(Duration::from_secs(60))),
        47,
    );
    assert_eq!(expected, 1);
    for _ in 0..5 {
        let report = check(&CasRegister, &history, &options(Duration::from_secs(60)));
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        assert_eq!(report.refutation().expect("explained").0, expected);
    }
}

#[test]
fn an_undecidable_history_is_unknown_once_the_budget_is_spent() {
    let history = History::new(hard(0, 0));
    let report = check(&CasRegister, &history, &options(Duration::from_secs(1)));
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.steps > 0);
    assert!(render_text(&CasRegister, &history, &report).starts_with("unknown"));
}

#[test]
fn the_memo_stays_within_its_memory_limit() {
    let history = History::new(hard(0, 0));
    let limits = SearchLimits {
        memo_bytes: 256 << 10,
        ..SearchLimits::default()
    };
    let report = check_with_limits(
        &CasRegister,
        &history,
        &options(Duration::from_millis(500)),
        &limits,
    );
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(
        report.memo_peak_bytes <= 256 << 10,
        "{} bytes",
        report.memo_peak_bytes
    );
    assert!(
        report.memo_peak_bytes > 128 << 10,
        "the memo used its room: {} bytes",
        report.memo_peak_bytes
    );
}
