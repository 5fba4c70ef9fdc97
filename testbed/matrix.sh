#!/usr/bin/env bash
# The full testbed run (docs/TESTBED.md): honest networks, then every attacker
# placement x variant against one node, each a separate testbed/run.sh; prints
# markdown tables of the figures. Needs root; about 90 s per run.
#
# usage: testbed/matrix.sh [--seeds "1 2 3"] [--out DIR] [--duration SECS]
#                          [--nodes N] [--honest-only | --attacks-only]
#                          [--warmup SECS] [--attacks "port subnet spread"]
#                          [--variants "refer relay store"]
# --warmup: seconds before the attacker starts (default 15, when the target
# has its 8 elected peers; 0 attacks a node still filling its table).
set -euo pipefail
SEEDS="1"
OUT="/tmp/testbed-matrix"
DURATION=60
NODES=32
DO_HONEST=1
DO_ATTACKS=1
WARMUP=15
ATTACKS="port subnet spread"
VARIANTS="refer relay store"
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --nodes) NODES="$2"; shift 2 ;;
    --honest-only) DO_ATTACKS=0; shift ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --attacks) ATTACKS="$2"; shift 2 ;;
    --variants) VARIANTS="$2"; shift 2 ;;
    --attacks-only) DO_HONEST=0; shift ;;
    *) echo "matrix: unknown option $1" >&2; exit 2 ;;
  esac
done
HERE="$(cd "$(dirname "$0")" && pwd)"
command -v jq >/dev/null || { echo "matrix: needs jq for the tables" >&2; exit 2; }
mkdir -p "$OUT"
(cd "$HERE/.." && cargo build --quiet --release -p runtime-std --features cli --bin election-node --example testbed)

if [ "$DO_HONEST" = 1 ]; then
  for n in 32 64; do
    for s in $SEEDS; do
      "$HERE/run.sh" --no-build --nodes "$n" --subnets 16 --warmup 0 --duration "$DURATION" --seed "$s" \
        --out "$OUT/honest-$n-s$s" >/dev/null
    done
  done
fi
if [ "$DO_ATTACKS" = 1 ]; then
  for a in $ATTACKS; do
    for v in $VARIANTS; do
      for s in $SEEDS; do
        "$HERE/run.sh" --no-build --nodes "$NODES" --subnets 16 --duration "$DURATION" --seed "$s" \
          --warmup "$WARMUP" --attack "$a" --variant "$v" --label "attack=$a/$v warmup=$WARMUP seed=$s" \
          --out "$OUT/$a-$v-w$WARMUP-s$s" >/dev/null
      done
    done
  done
fi

echo "| run | success | elections | exhausted | msgs/election | t(8 contacts) median / max ms | never 8 contacts | 8 elected at end | least contacts | testbed counters |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for f in "$OUT"/honest-*/summary.json; do
  [ -s "$f" ] || continue
  jq -r '"| \(.label) | \(.success*1000|round/1000) | \(.elections_finished) | \(.elections_exhausted) | \(.messages_per_election*10|round/10) | \(.time_to_8_contacts_ms.median) / \(.time_to_8_contacts_ms.max) | \(.nodes_never_8_contacts) | \(.nodes_with_8_elected_at_end) | \(.least_contacts_at_end) | \(.counters) |"' "$f"
done
echo
echo "| attacker (128 ids) | target success in attack | its exhausted | sybils in target's contacts | in its elected | elections won by sybils | other nodes: mean sybil share of contacts | others with a sybil elected | all honest success | target's warnings | testbed counters |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$OUT"/{port,subnet,spread}-*/summary.json; do
  [ -s "$f" ] || continue
  jq -r '"| \(.label) | \(.target.success_in_attack*100|round/100) (\(.target.elected_in_attack)/\(.target.elections_in_attack)) | \(.target.exhausted_in_attack) | \(.target.sybil_contacts) of \(.target.contacts) | \(.target.sybil_elected) of \(.target.elected) | \(.target.won_by_sybils_in_attack) of \(.target.elected_in_attack) | \(.others.mean_sybil_share_of_contacts*100|round)% | \(.others.nodes_with_a_sybil_elected) of \(.others.nodes) | \(.success*1000|round/1000) | \(.target.warnings // [] | join("; ")) | \(.counters) |"' "$f"
done
