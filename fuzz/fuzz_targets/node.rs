//! `node` target: see `election_proto::fuzzing::node` for the input format and invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: election_proto::fuzzing::init(),
    |data: &[u8]| {
        election_proto::fuzzing::node(data);
    }
);
