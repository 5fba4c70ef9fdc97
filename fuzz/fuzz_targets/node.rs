//! `node` target: see `election_fuzz_harness::node` for the input format and invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: election_fuzz_harness::init(),
    |data: &[u8]| {
        election_fuzz_harness::node(data);
    }
);
