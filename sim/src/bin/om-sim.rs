//! `om-sim`: the simulation testbed's command line (`om-sim --help`).

use clap::Parser;

fn main() {
    let cli = om_sim::cli::Cli::parse();
    std::process::exit(om_sim::cli::main(cli));
}
