#!/usr/bin/env bash
# Real-address testbed: N election-node processes, each in its own network
# namespace with its own IPv4 address, spread over S /24 subnets, routed
# through one hub namespace (one /32 route per host), optionally an attacker
# namespace running sybils against one node. See docs/TESTBED.md.
#
# Needs root (ip netns). Only private 10.213.0.0/16 addresses, only inside
# namespaces this script creates (all named "$PREFIX-*", PREFIX = eltb<pid>);
# nothing is routed out of them. Everything is removed on exit (EXIT, INT,
# TERM). Every loop is bounded.
#
# usage: testbed/run.sh [--nodes N] [--subnets S] [--warmup SECS] [--duration SECS]
#                       [--attack none|port|subnet|spread] [--variant refer|relay|store]
#                       [--sybils K] [--seed N] [--interval-ms MS] [--target-index I]
#                       [--out DIR] [--label TEXT] [--no-build] [--debug] [--check]
#
# --debug uses (and builds) the debug binaries (what `cargo test` built: quick
# in CI); --check exits 1 unless every node wrote its summary, the host's ARP
# table never overflowed, no UDP datagram was dropped for want of buffer, and
# (without an attacker) the nodes' success rate is at least 0.9.
#
# The figures go to DIR/summary.json (also printed); per node: DIR/node-I/
# (log, summary.json, state). DIR/counters.txt: the host's ARP table-overflow
# count and the namespaces' UDP drop counters over the run (totals; per
# namespace in DIR/udp_counters.txt).
set -euo pipefail

NODES=32
SUBNETS=16
WARMUP=15
DURATION=60
ATTACK=none
VARIANT=refer
SYBILS=128
SEED=1
INTERVAL_MS=2000
TARGET_INDEX=1
OUT=""
LABEL=""
BUILD=1
PROFILE=release
CHECK=0

die() { echo "testbed: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --subnets) SUBNETS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --attack) ATTACK="$2"; shift 2 ;;
    --variant) VARIANT="$2"; shift 2 ;;
    --sybils) SYBILS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --interval-ms) INTERVAL_MS="$2"; shift 2 ;;
    --target-index) TARGET_INDEX="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --label) LABEL="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --debug) PROFILE=debug; shift ;;
    --check) CHECK=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done

num() { [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a number (got '$2')"; }
num --nodes "$NODES"; num --subnets "$SUBNETS"; num --warmup "$WARMUP"; num --duration "$DURATION"
num --sybils "$SYBILS"; num --seed "$SEED"; num --interval-ms "$INTERVAL_MS"; num --target-index "$TARGET_INDEX"
[ "$NODES" -ge 4 ] && [ "$NODES" -le 250 ] || die "--nodes must be 4..250"
[ "$SUBNETS" -ge 1 ] && [ "$SUBNETS" -le 64 ] || die "--subnets must be 1..64"
[ "$TARGET_INDEX" -lt "$NODES" ] || die "--target-index must be below --nodes"
case "$ATTACK" in none|port|subnet|spread) ;; *) die "--attack must be none, port, subnet or spread" ;; esac
case "$VARIANT" in refer|relay|store) ;; *) die "--variant must be refer, relay or store" ;; esac
[ "$SYBILS" -ge 3 ] && [ "$SYBILS" -le 128 ] || die "--sybils must be 3..128"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (ip)"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_BIN="$TARGET_DIR/$PROFILE/election-node"
TB_BIN="$TARGET_DIR/$PROFILE/examples/testbed"
if [ "$BUILD" = 1 ]; then
  flags=(--release); [ "$PROFILE" = debug ] && flags=()
  (cd "$ROOT" && cargo build --quiet "${flags[@]}" -p runtime-std --features cli --bin election-node --example testbed)
fi
[ -x "$NODE_BIN" ] && [ -x "$TB_BIN" ] || die "missing $NODE_BIN or $TB_BIN (build them, or drop --no-build)"

[ -n "$LABEL" ] || LABEL="nodes=$NODES subnets=$SUBNETS attack=$ATTACK${ATTACK:+/}$VARIANT seed=$SEED"
[ "$ATTACK" = none ] && LABEL="${LABEL/\/$VARIANT/}"
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/testbed.XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

PREFIX="eltb$$"
HUB="$PREFIX-hub"
GW=10.213.0.254
PORT=7000
PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid n
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for n in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" || true); do
    ip netns delete "$ns" 2>/dev/null || true
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Host i (0-based) lives in subnet i % S at 10.213.(1 + i % S).(1 + i / S).
host_ip() { echo "10.213.$((1 + $1 % SUBNETS)).$((1 + $1 / SUBNETS))"; }

# The host's ARP table-overflow counter (sum of table_fulls over CPUs).
arp_fulls() {
  local s=0 f
  while read -r -a f; do
    [[ "${f[12]:-}" =~ ^[0-9a-f]+$ ]] && s=$((s + 16#${f[12]}))
  done < <(tail -n +2 /proc/net/stat/arp_cache)
  echo "$s"
}
# UDP InErrors RcvbufErrors SndbufErrors of one namespace.
udp_drops() { ip netns exec "$1" awk '/^Udp: [0-9]/ {print $4, $6, $7}' /proc/net/snmp; }

# ---- network
ip netns add "$HUB"
ip -n "$HUB" link set lo up
ip -n "$HUB" addr add "$GW/32" dev lo
ip netns exec "$HUB" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

# add_host NS IFACE_INDEX IP...: a namespace with one veth to the hub, the given /32s.
add_host() {
  local ns="$1" idx="$2"; shift 2
  ip netns add "$ns"
  ip -n "$HUB" link add "v$idx" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set lo up
  local a
  for a in "$@"; do ip -n "$ns" addr add "$a/32" dev eth0; done
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add "$GW/32" dev eth0
  ip -n "$ns" route add 10.213.0.0/16 via "$GW" dev eth0 src "$1"
  ip -n "$HUB" link set "v$idx" up
  for a in "$@"; do ip -n "$HUB" route add "$a/32" dev "v$idx"; done
}

for i in $(seq 0 $((NODES - 1))); do
  add_host "$PREFIX-h$i" "$i" "$(host_ip "$i")"
done

ATTACK_ADDRS=()
if [ "$ATTACK" != none ]; then
  ips=()
  case "$ATTACK" in
    port) ips=(10.213.200.1)
          for p in $(seq 0 $((SYBILS - 1))); do ATTACK_ADDRS+=("10.213.200.1:$((PORT + p))"); done ;;
    subnet) for k in $(seq 1 $(( (SYBILS + 1) / 2 ))); do ips+=("10.213.201.$k"); done
            for p in $(seq 0 $((SYBILS - 1))); do ATTACK_ADDRS+=("${ips[$((p % ${#ips[@]}))]}:$((PORT + p / ${#ips[@]}))"); done ;;
    spread) for p in $(seq 0 $((SYBILS - 1))); do
              ips+=("10.213.$((210 + p % 16)).$((1 + p / 16))"); ATTACK_ADDRS+=("10.213.$((210 + p % 16)).$((1 + p / 16)):$PORT")
            done ;;
  esac
  add_host "$PREFIX-atk" 999 "${ips[@]}"
fi

ALL_NS=$(ip netns list | awk '{print $1}' | grep -E "^$PREFIX-")
ARP0=$(arp_fulls)

# ---- honest nodes
SEED_ADDR="$(host_ip 0):$PORT"
HONEST=()
for i in $(seq 0 $((NODES - 1))); do
  d="$OUT/node-$i"; mkdir -p "$d"
  addr="$(host_ip "$i"):$PORT"
  HONEST+=("$addr")
  boot=(); [ "$i" -gt 0 ] && boot=(--bootstrap "$SEED_ADDR")
  RUST_LOG="${RUST_LOG:-info}" ip netns exec "$PREFIX-h$i" "$NODE_BIN" run --listen "$addr" "${boot[@]}" \
    --state-dir "$d/state" --id-seed $((SEED * 1000 + i)) --pow-difficulty 0 \
    --interval-ms "$INTERVAL_MS" --summary "$d/summary.json" >"$d/stdout" 2>"$d/log" &
  PIDS+=($!)
done
START_MS=$(date +%s%3N)
echo "testbed: $NODES nodes over $SUBNETS /24s up (namespaces $PREFIX-*); output in $OUT" >&2

sleep "$WARMUP"
if [ "$ATTACK" != none ]; then
  others=()
  for i in $(seq 0 $((NODES - 1))); do [ "$i" = "$TARGET_INDEX" ] || others+=("${HONEST[$i]}"); done
  echo "testbed: attack $ATTACK/$VARIANT, ${#ATTACK_ADDRS[@]} ids, against ${HONEST[$TARGET_INDEX]} for $DURATION s" >&2
  ip netns exec "$PREFIX-atk" "$TB_BIN" sybil --variant "$VARIANT" \
    --addrs "$(IFS=,; echo "${ATTACK_ADDRS[*]}")" --target "${HONEST[$TARGET_INDEX]}" \
    --target-id-seed $((SEED * 1000 + TARGET_INDEX)) --honest "$(IFS=,; echo "${others[*]}")" \
    --duration "$DURATION" --seed "$SEED" --out "$OUT/sybil.json" 2>"$OUT/sybil.log" &
  ATK=$!
  PIDS+=("$ATK")
  # Bounded: the sybils stop themselves after --duration (plus mining).
  for n in $(seq 1 $(( (DURATION + 180) * 2 ))); do kill -0 "$ATK" 2>/dev/null || break; sleep 0.5; done
  wait "$ATK" || echo "testbed: the attacker exited with an error (see $OUT/sybil.log)" >&2
else
  sleep "$DURATION"
fi

# ---- stop, count, summarize
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do
  for n in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
ARP1=$(arp_fulls)
in_err=0; rcv=0; snd=0
echo "# namespace udp_in_errors udp_rcvbuf_errors udp_sndbuf_errors" >"$OUT/udp_counters.txt"
for ns in $ALL_NS; do
  read -r a b c < <(udp_drops "$ns")
  echo "$ns $a $b $c" >>"$OUT/udp_counters.txt"
  in_err=$((in_err + a)); rcv=$((rcv + b)); snd=$((snd + c))
done
echo "arp_table_fulls_during_run=$((ARP1 - ARP0)) udp_in_errors=$in_err udp_rcvbuf_errors=$rcv udp_sndbuf_errors=$snd namespaces=$(echo "$ALL_NS" | wc -w)" >"$OUT/counters.txt"

target_json=null
[ "$ATTACK" != none ] && target_json="$TARGET_INDEX"
cat >"$OUT/meta.json" <<EOF
{"label": "$LABEL", "nodes": $NODES, "subnets": $SUBNETS, "duration": $DURATION, "warmup": $WARMUP,
 "attack": "$ATTACK", "variant": "$VARIANT", "sybils": $SYBILS, "seed": $SEED, "interval_ms": $INTERVAL_MS,
 "target_index": $target_json, "start_unix_ms": $START_MS}
EOF
"$TB_BIN" summarize "$OUT" | tee "$OUT/summary.json"

if [ "$CHECK" = 1 ]; then
  bad=()
  missing=$(grep -o '"summaries_missing": [0-9]*' "$OUT/summary.json" | grep -o '[0-9]*$')
  [ "$missing" = 0 ] || bad+=("$missing node summaries missing")
  [ $((ARP1 - ARP0)) = 0 ] || bad+=("the host's ARP table overflowed $((ARP1 - ARP0)) times")
  [ "$rcv" = 0 ] && [ "$snd" = 0 ] || bad+=("UDP buffer drops: $rcv received, $snd sent")
  if [ "$ATTACK" = none ]; then
    ok=$(grep -o '"success": [0-9.e-]*' "$OUT/summary.json" | head -1 | grep -o '[0-9.e-]*$')
    awk -v s="$ok" 'BEGIN {exit !(s >= 0.9)}' || bad+=("success $ok below 0.9")
  else
    [ -s "$OUT/sybil.json" ] || bad+=("the attacker wrote no sybil.json")
  fi
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'testbed check failed: %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "testbed check passed" >&2
fi
