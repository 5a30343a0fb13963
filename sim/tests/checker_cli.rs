//! `om-sim check`: verdict lines, summary, exit codes, errors naming file and line, HTML.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use om_sim::checker::json_lines;
use om_sim::checker::model::cas_register::{RegisterInput as In, RegisterOutput as Out};
use om_sim::checker::{History, Operation};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("om-sim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

fn write_history(path: &Path, operations: Vec<Operation<In, Out>>) {
    std::fs::write(path, json_lines::write(&History::new(operations))).expect("written");
}

fn om_sim(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_om-sim"))
        .arg("check")
        .args(arguments)
        .output()
        .expect("runs")
}

fn linearizable() -> Vec<Operation<In, Out>> {
    vec![
        Operation::completed(0, 0, 10, In::write(1), Out::Write),
        Operation::completed(1, 5, 15, In::read(), Out::Read { value: Some(1) }),
    ]
}

fn stale() -> Vec<Operation<In, Out>> {
    vec![
        Operation::completed(0, 0, 10, In::write(1), Out::Write),
        Operation::completed(1, 20, 30, In::read(), Out::Read { value: None }),
    ]
}

/// 40 concurrent writes then an impossible read: refuting it takes far longer than 0 s.
fn hard() -> Vec<Operation<In, Out>> {
    let mut operations: Vec<_> = (0..40)
        .map(|client| Operation::completed(client, 0, 100, In::write(client as i64), Out::Write))
        .collect();
    operations.push(Operation::completed(
        40,
        50,
        60,
        In::read(),
        Out::Read { value: Some(-1) },
    ));
    operations
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn checker_cli_prints_a_line_per_file_and_exits_by_the_worst_verdict() {
    let directory = scratch("verdicts");
    let (good, bad, hard_file) = (
        directory.join("good.jsonl"),
        directory.join("bad.jsonl"),
        directory.join("hard.jsonl"),
    );
    write_history(&good, linearizable());
    write_history(&bad, stale());
    write_history(&hard_file, hard());
    let model = ["--model", "cas-register", "--format", "json"];
    let path = |file: &Path| file.to_str().expect("utf-8").to_string();

    let output = om_sim(&[&model[..], &[path(&good).as_str()]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).starts_with(&format!(
        "{} linearizable\nsummary: 1 histories: 1 linearizable",
        path(&good)
    )));

    let html = directory.join("html");
    let output = om_sim(
        &[
            &model[..],
            &[
                "--html",
                html.to_str().expect("utf-8"),
                &path(&good),
                &path(&bad),
            ],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains(&format!("{} not-linearizable\n", path(&bad))));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("cannot place #1 client 1 [20, 30] read -> nil"));
    let page = std::fs::read_to_string(html.join("bad.jsonl.html")).expect("timeline written");
    assert!(page.contains("class=\"op blocking\""));
    assert!(html.join("good.jsonl.html").is_file());

    let output = om_sim(
        &[
            &model[..],
            &["--timeout-secs", "0", &path(&good), &path(&hard_file)],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!("{} unknown\n", path(&hard_file))));
}

#[test]
fn checker_cli_names_file_and_line_of_unreadable_input() {
    let directory = scratch("unreadable");
    let broken = directory.join("broken.jsonl");
    let mut text = json_lines::write(&History::new(linearizable()));
    text.push_str("{\"client\": 3, \"invoke_ns\": oops}\n");
    std::fs::write(&broken, text).expect("written");
    let output = om_sim(&[
        "--model",
        "cas-register",
        "--format",
        "json",
        broken.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("error: {}:3:", broken.display())),
        "{stderr}"
    );
    let missing = directory.join("missing.log");
    let output = om_sim(&[
        "--model",
        "cas-register",
        "--format",
        "jepsen",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.log: cannot read"));
    let output = om_sim(&[
        "--model",
        "om",
        "--format",
        "jepsen",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2), "bad arguments");
}

fn om_sim_top(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_om-sim"))
        .args(arguments)
        .output()
        .expect("runs")
}

#[test]
fn checker_cli_help_goes_to_stdout_and_exits_0() {
    let output = om_sim(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.starts_with("usage: om-sim check"), "{text}");
    assert!(text.contains("--timeout-secs N"), "{text}");
    assert!(output.stderr.is_empty());
    for arguments in [&["--help"][..], &["help"], &["-h"]] {
        let output = om_sim_top(arguments);
        assert_eq!(output.status.code(), Some(0), "{arguments:?}");
        let text = stdout(&output);
        // The top level lists every subcommand (clap's help), the checker's among them.
        for subcommand in ["check", "bench-checker", "run", "sweep", "replay", "list"] {
            assert!(
                text.lines()
                    .any(|line| line.trim_start().starts_with(subcommand)),
                "{arguments:?} lists {subcommand}: {text}"
            );
        }
    }
    let output = om_sim_top(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "an unknown subcommand");
}

#[test]
fn checker_cli_calls_a_jepsen_file_without_operations_unreadable() {
    let directory = scratch("no-operations");
    let (garbage, empty, good) = (
        directory.join("garbage.log"),
        directory.join("empty.log"),
        directory.join("good.log"),
    );
    std::fs::write(&garbage, "hello\nthis is not a jepsen log\n").expect("written");
    std::fs::write(&empty, "").expect("written");
    std::fs::write(
        &good,
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n",
    )
    .expect("written");
    let model = ["--model", "cas-register", "--format", "jepsen"];
    for file in [&garbage, &empty] {
        let path = file.to_str().expect("utf-8");
        let output = om_sim(&[&model[..], &[path]].concat());
        assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
        assert!(stdout(&output).starts_with(&format!("{path} unreadable\n")));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("error: {path}: no operation found")),
            "{stderr}"
        );
    }
    let output = om_sim(&[&model[..], &[good.to_str().expect("utf-8")]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
