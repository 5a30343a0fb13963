//! Every committed fuzz corpus file (`fuzz/corpus/<target>/`, minimised by `ci/fuzz cmin`) and
//! every kept crash input (`fuzz/regressions/<target>/`) runs through its target's body
//! (`om_sim::fuzzing`), on the stable toolchain: inputs that reached new code, or once found a
//! bug, keep being checked by `cargo test` without a fuzzer.

use om_sim::fuzzing::{FuzzTarget, TARGETS};
use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of a directory, in name order.
fn files_in(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The corpus files of `target` (panics when there are none), then its kept crash inputs.
fn corpus(target: &FuzzTarget) -> Vec<PathBuf> {
    let directory = fuzz_dir().join("corpus").join(target.name);
    let mut files = files_in(&directory)
        .unwrap_or_else(|error| panic!("corpus {}: {error}", directory.display()));
    assert!(!files.is_empty(), "corpus {} is empty", directory.display());
    let regressions = fuzz_dir().join("regressions").join(target.name);
    if regressions.exists() {
        files.extend(files_in(&regressions).expect("regressions directory"));
    }
    files
}

fn run_corpus(name: &str) {
    let target = TARGETS
        .iter()
        .find(|target| target.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"));
    for file in corpus(target) {
        let data = fs::read(&file).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| (target.body)(&data));
        assert!(outcome.is_ok(), "{name} fails on {}", file.display());
    }
}

#[test]
fn frame_decoder_corpus() {
    run_corpus("frame_decoder");
}

#[test]
fn request_decoder_corpus() {
    run_corpus("request_decoder");
}

#[test]
fn om_apply_corpus() {
    run_corpus("om_apply");
}

#[test]
fn journal_recovery_corpus() {
    run_corpus("journal_recovery");
}

#[test]
fn journal_bytes_corpus() {
    run_corpus("journal_bytes");
}

#[test]
fn jepsen_history_corpus() {
    run_corpus("jepsen_history");
}

#[test]
fn json_history_corpus() {
    run_corpus("json_history");
}

/// Each target has a test above, a cargo-fuzz binary and a corpus, and nothing else does.
#[test]
fn every_target_is_fuzzed_and_tested() {
    let mut fuzzed: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|entry| entry.expect("fuzz target entry").path())
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_string()))
        .collect();
    fuzzed.sort();
    let mut bodies: Vec<String> = TARGETS.iter().map(|target| target.name.into()).collect();
    bodies.sort();
    assert_eq!(
        fuzzed, bodies,
        "fuzz/fuzz_targets and om_sim::fuzzing::TARGETS differ"
    );
    let mut corpora: Vec<String> = fs::read_dir(fuzz_dir().join("corpus"))
        .expect("fuzz/corpus")
        .map(|entry| {
            entry
                .expect("corpus entry")
                .file_name()
                .into_string()
                .unwrap()
        })
        .collect();
    corpora.sort();
    assert_eq!(
        corpora, bodies,
        "fuzz/corpus and om_sim::fuzzing::TARGETS differ"
    );
    let source = include_str!("fuzz_corpora.rs");
    for target in &TARGETS {
        let test = format!("run_corpus(\"{}\")", target.name);
        assert!(source.contains(&test), "no corpus test for {}", target.name);
    }
}
