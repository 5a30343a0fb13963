//! Named fault scenarios: see `tests/`, one story per file (run under `--cfg madsim`).
