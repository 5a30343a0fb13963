//! Simulation testbed for the Ozone Manager.

pub mod checker;
