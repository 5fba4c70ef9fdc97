#!/usr/bin/env bash
# Runs one cargo-fuzz target on nightly for a while.
#
#   fuzz/run.sh TARGET SECONDS        TARGET: decode | election | node
#
# Installs cargo-fuzz if it is missing (needs a nightly toolchain already
# installed). New inputs libFuzzer finds go to fuzz/target/corpus-work/TARGET,
# not to the committed seeds in fuzz/corpus/TARGET; crashes land in
# fuzz/artifacts/TARGET. Extra libFuzzer flags: FUZZ_ARGS="-jobs=2 ...".
# Debug assertions and overflow checks are on (-a). No sanitizer by default: the core forbids unsafe code, and ASan costs a
# factor of several in executions; FUZZ_SANITIZER=address turns it on.
set -euo pipefail

target="${1:?usage: fuzz/run.sh TARGET SECONDS (TARGET: decode, election, node)}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS}"
cd "$(dirname "$0")"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: a nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

work="target/corpus-work/$target"
mkdir -p "$work" "artifacts/$target"
# shellcheck disable=SC2086
exec cargo +nightly fuzz run -a -s "${FUZZ_SANITIZER:-none}" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_ARGS:-}
