//! The 102 Jepsen etcd histories published with Porcupine: every verdict reproduced.

use std::path::{Path, PathBuf};

use om_sim::checker::model::cas_register::CasRegister;
use om_sim::checker::{check, check_with_limits, jepsen, CheckOptions, SearchLimits, Verdict};

const DATA_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/porcupine-etcd"
);

/// The data directory, or `None` (with a loud message) when it is absent outside CI.
fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(DATA_DIR);
    if dir.join("EXPECTED").is_file() {
        return Some(dir.to_path_buf());
    }
    #[allow(clippy::disallowed_methods)] // A test reads CI's flag to decide skip versus fail.
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(
        !in_ci,
        "{DATA_DIR}/EXPECTED is missing and CI=true: the etcd histories are required"
    );
    eprintln!("\n*** SKIPPED: {DATA_DIR} not found; the etcd verdicts were NOT checked ***\n");
    None
}

fn expected_verdicts(dir: &Path) -> Vec<(String, Verdict)> {
    let text = std::fs::read_to_string(dir.join("EXPECTED")).expect("EXPECTED is readable");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (file, verdict) = line
                .split_once(char::is_whitespace)
                .expect("`<file> <verdict>`");
            let verdict = match verdict.trim() {
                "linearizable" => Verdict::Linearizable,
                "not-linearizable" => Verdict::NotLinearizable,
                other => panic!("unknown verdict {other}"),
            };
            (file.to_string(), verdict)
        })
        .collect()
}

#[test]
fn checker_reproduces_every_etcd_verdict() {
    let Some(dir) = data_dir() else { return };
    let expected = expected_verdicts(&dir);
    assert_eq!(expected.len(), 102);
    let linearizable = expected
        .iter()
        .filter(|(_, verdict)| *verdict == Verdict::Linearizable);
    assert_eq!(linearizable.count(), 23);
    let options = CheckOptions {
        timeout: None,
        workers: 2,
    };
    let mut wrong = Vec::new();
    for (file, verdict) in &expected {
        let text = std::fs::read_to_string(dir.join(file)).expect("history is readable");
        let history = jepsen::parse(&text).unwrap_or_else(|error| panic!("{file}: {error}"));
        let report = check(&CasRegister, &history, &options);
        if report.verdict != *verdict {
            wrong.push(format!(
                "{file}: expected {verdict}, got {}",
                report.verdict
            ));
        }
        if *verdict == Verdict::NotLinearizable {
            let (_, refutation) = report
                .refutation()
                .expect("a refutation explains the verdict");
            assert!(!refutation.prefix.contains(&refutation.blocking));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn checker_reads_the_empty_etcd_history_as_linearizable() {
    let Some(dir) = data_dir() else { return };
    let text = std::fs::read_to_string(dir.join("etcd_095.log")).expect("readable");
    let history = jepsen::parse(&text).expect("parses");
    assert!(history.is_empty());
    assert_eq!(
        check(&CasRegister, &history, &CheckOptions::default()).verdict,
        Verdict::Linearizable
    );
}

/// A memo that must forget most failures, and slices of a few steps (every part paused and
/// resumed many times): the same verdicts.
#[test]
fn checker_reproduces_every_etcd_verdict_with_a_tiny_memo_and_short_slices() {
    let Some(dir) = data_dir() else { return };
    let options = CheckOptions {
        timeout: None,
        workers: 2,
    };
    let limits = SearchLimits {
        memo_bytes: 16 << 10,
        slice_steps: 7,
    };
    let mut forgetting = 0;
    for (file, verdict) in &expected_verdicts(&dir) {
        let text = std::fs::read_to_string(dir.join(file)).expect("history is readable");
        let history = jepsen::parse(&text).unwrap_or_else(|error| panic!("{file}: {error}"));
        let report = check_with_limits(&CasRegister, &history, &options, &limits);
        assert_eq!(report.verdict, *verdict, "{file}");
        assert!(report.memo_peak_bytes <= 16 << 10, "{file}");
        forgetting += usize::from(report.memo_peak_bytes > 8 << 10);
    }
    assert!(forgetting > 0, "some history filled the memo");
}
