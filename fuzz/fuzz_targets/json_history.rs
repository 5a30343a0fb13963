#![no_main]
//! Property and input format: `om_sim::fuzzing::json_history`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| om_sim::fuzzing::json_history(data));
