//! `om-sim`: the simulation testbed's command line.
//!
//! ```text
//! om-sim check --model cas-register|om --format jepsen|json [--timeout-secs N] [--html DIR] FILE...
//! om-sim bench-checker [--etcd DIR] [--operations N] [--keys K] [--volumes V] [--seed S] ...
//! om-sim help | --help | -h
//! ```

use om_sim::checker::bench::{run_bench, BENCH_USAGE};
use om_sim::checker::cli::{run_check, run_help, CHECK_USAGE, EXIT_UNREADABLE};

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let code = match arguments.first().map(String::as_str) {
        Some("check") => run_check(&arguments[1..]),
        Some("bench-checker") => run_bench(&arguments[1..]),
        Some("help" | "--help" | "-h") => run_help(BENCH_USAGE),
        _ => {
            eprintln!("{CHECK_USAGE}\n{BENCH_USAGE}");
            EXIT_UNREADABLE
        }
    };
    std::process::exit(code);
}
