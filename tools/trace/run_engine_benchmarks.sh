#!/usr/bin/env bash
# Reproduces the cache engine's figures (docs/engine-benchmarks-draft.md):
#   1. miss ratios, read-through, on three traces: Zipf 0.99, Zipf 0.7, and
#      Zipf 0.99 with scans; for the engine with SIEVE and with LRU (in-process,
#      same memory accounting), Debian's memcached, and a real discache-node;
#   2. resident memory per item (16-byte keys, 100-byte values) of a node and
#      of memcached holding the same items;
#   3. a node's RSS against its --memory after overfilling it.
# Everything runs on 127.0.0.1; processes started here are stopped by PID.
#
# Usage: tools/trace/run_engine_benchmarks.sh [--quick] [--no-memcached] [--no-node] [--long]
#   --quick        200k requests per trace and 100k items (a smoke run, ~1 min)
#   --no-memcached skip the memcached columns
#   --no-node      skip the real-node replays (they take ~3 min per trace)
#   --long         also replay 20M-request traces in the simulator (policy only)
# Environment: BUILD (default: build), WORK (default: /tmp/discache-engine-bench),
#              MEMORY_MIB (default 32).
set -euo pipefail

BUILD=${BUILD:-build}
WORK=${WORK:-/tmp/discache-engine-bench}
MEMORY_MIB=${MEMORY_MIB:-32}
REQUESTS=2000000
KEYS=1000000
ITEMS=1000000
WITH_MEMCACHED=1
WITH_NODE=1
LONG=0
for arg in "$@"; do
  case "$arg" in
    --quick) REQUESTS=200000; ITEMS=100000 ;;
    --no-memcached) WITH_MEMCACHED=0 ;;
    --no-node) WITH_NODE=0 ;;
    --long) LONG=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

NODE="$BUILD/discache-node/discache-node"
GEN="$BUILD/tools/trace/discache-trace-gen"
REPLAY="$BUILD/tools/trace/discache-trace-replay"
LOAD="$BUILD/tools/trace/discache-load-items"
for binary in "$NODE" "$GEN" "$REPLAY" "$LOAD"; do
  [[ -x "$binary" ]] || { echo "missing $binary: build first (ninja -C $BUILD)" >&2; exit 2; }
done
if (( WITH_MEMCACHED )) && ! command -v memcached >/dev/null; then
  echo "memcached not installed (apt-get install memcached), or pass --no-memcached" >&2
  exit 2
fi
mkdir -p "$WORK"
RAW="$WORK/raw.txt"
: >"$RAW"

STARTED=()
cleanup() {
  for pid in "${STARTED[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls until 127.0.0.1:$1 accepts a connection, for at most 10 s.
wait_for_port() {
  local port=$1
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$port after 10 s" >&2
  return 1
}

rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# start_memcached MIB -> sets MC_PID, MC_PORT
start_memcached() {
  MC_PORT=$(free_port)
  local user=()
  [[ $(id -u) == 0 ]] && user=(-u nobody)
  memcached "${user[@]}" -m "$1" -t 1 -l 127.0.0.1 -p "$MC_PORT" -U 0 &
  MC_PID=$!
  STARTED+=("$MC_PID")
  wait_for_port "$MC_PORT"
}

# start_node MEMORY EVICTION -> sets NODE_PID, NODE_PORT
start_node() {
  local log_file="$WORK/node-$RANDOM.log"
  : >"$log_file"
  "$NODE" --listen 127.0.0.1:0 --name bench --memory "$1" --eviction "$2" 2>"$log_file" &
  NODE_PID=$!
  STARTED+=("$NODE_PID")
  NODE_PORT=""
  for _ in $(seq 100); do
    NODE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log_file")
    [[ -n "$NODE_PORT" ]] && return 0
    sleep 0.1
  done
  echo "discache-node did not start:" >&2
  cat "$log_file" >&2
  return 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# ---- 1. traces ---------------------------------------------------------------
declare -A TRACE_ARGS=(
  [zipf-0.99]="--alpha 0.99"
  [zipf-0.7]="--alpha 0.7"
  [zipf-0.99+scans]="--alpha 0.99 --scan-fraction 0.2 --scan-length 300000"
)
TRACES=(zipf-0.99 zipf-0.7 zipf-0.99+scans)
for name in "${TRACES[@]}"; do
  file="$WORK/$name-$REQUESTS.trace"
  if [[ ! -f "$file" ]]; then
    log "generating $name ($REQUESTS requests over $KEYS keys)"
    # shellcheck disable=SC2086
    "$GEN" ${TRACE_ARGS[$name]} --keys "$KEYS" --requests "$REQUESTS" --out "$file" 2>/dev/null
  fi
done

# ---- 2. miss ratios ---------------------------------------------------------
declare -A MISS
for name in "${TRACES[@]}"; do
  file="$WORK/$name-$REQUESTS.trace"
  for policy in sieve lru; do
    log "$name: engine in-process, $policy, ${MEMORY_MIB}MiB"
    line=$("$REPLAY" --trace "$file" --memory "${MEMORY_MIB}MiB" --eviction "$policy" 2>/dev/null)
    echo "$line" >>"$RAW"
    MISS[$name,$policy]=$(field miss_ratio <<<"$line")
    MISS[$name,$policy,items]=$(field items <<<"$line")
  done
  if (( WITH_MEMCACHED )); then
    log "$name: memcached -m $MEMORY_MIB -t 1 (read-through over loopback, ~2 min)"
    start_memcached "$MEMORY_MIB"
    line=$("$REPLAY" --trace "$file" --target memcached --address "127.0.0.1:$MC_PORT")
    echo "$line" >>"$RAW"
    MISS[$name,memcached]=$(field miss_ratio <<<"$line")
    MISS[$name,memcached,items]=$(field items <<<"$line")
    stop "$MC_PID"
  fi
  if (( WITH_NODE )); then
    log "$name: discache-node --memory ${MEMORY_MIB}MiB (read-through over loopback, ~3 min)"
    start_node "${MEMORY_MIB}MiB" sieve
    line=$("$REPLAY" --trace "$file" --target node --address "127.0.0.1:$NODE_PORT")
    echo "$line" >>"$RAW"
    MISS[$name,node]=$(field miss_ratio <<<"$line")
    stop "$NODE_PID"
  fi
done

if (( LONG )); then
  for name in "${TRACES[@]}"; do
    file="$WORK/$name-20000000.trace"
    if [[ ! -f "$file" ]]; then
      log "generating $name (20M requests)"
      # shellcheck disable=SC2086
      "$GEN" ${TRACE_ARGS[$name]} --keys "$KEYS" --requests 20000000 --out "$file" 2>/dev/null
    fi
    for policy in sieve lru; do
      line=$("$REPLAY" --trace "$file" --memory "${MEMORY_MIB}MiB" --eviction "$policy" 2>/dev/null)
      echo "$line" >>"$RAW"
      MISS[$name-long,$policy]=$(field miss_ratio <<<"$line")
    done
  done
fi

# ---- 3. memory per item -----------------------------------------------------
# Enough memory that nothing is evicted: every item loaded stays resident.
log "memory per item: $ITEMS items into a node (--memory 1GiB) and memcached (-m 1024)"
start_node 1GiB sieve
node_before=$(rss_bytes "$NODE_PID")
line=$("$LOAD" --target node --address "127.0.0.1:$NODE_PORT" --items "$ITEMS" 2>/dev/null)
echo "node-load $line" >>"$RAW"
node_after=$(rss_bytes "$NODE_PID")
node_used=$(field memory_used <<<" $line")
node_items=$(field items <<<" $line")
stop "$NODE_PID"
if (( WITH_MEMCACHED )); then
  start_memcached 1024
  mc_before=$(rss_bytes "$MC_PID")
  line=$("$LOAD" --target memcached --address "127.0.0.1:$MC_PORT" --items "$ITEMS" 2>/dev/null)
  echo "memcached-load $line" >>"$RAW"
  mc_after=$(rss_bytes "$MC_PID")
  mc_items=$(field items <<<" $line")
  stop "$MC_PID"
fi

# ---- 4. RSS against the limit -----------------------------------------------
declare -A FILL
for shape in fixed mixed; do
  log "RSS vs limit: ${MEMORY_MIB}MiB node overfilled with $shape-size values"
  start_node "${MEMORY_MIB}MiB" sieve
  FILL[$shape,before]=$(rss_bytes "$NODE_PID")
  if [[ $shape == fixed ]]; then
    # 1M items of 116 bytes of payload: ~3.5x what fits.
    line=$("$LOAD" --target node --address "127.0.0.1:$NODE_PORT" --items "$ITEMS" 2>/dev/null)
  else
    # ~200 MiB of values from 1 to 16 KiB.
    line=$("$LOAD" --target node --address "127.0.0.1:$NODE_PORT" --items 24000 \
      --value-bytes 1024 --value-bytes-max 16384 2>/dev/null)
  fi
  echo "fill-$shape $line" >>"$RAW"
  FILL[$shape,rss]=$(rss_bytes "$NODE_PID")
  FILL[$shape,used]=$(field memory_used <<<" $line")
  FILL[$shape,bytes]=$(field bytes <<<" $line")
  FILL[$shape,items]=$(field items <<<" $line")
  stop "$NODE_PID"
done

# ---- report -----------------------------------------------------------------
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.1f MiB", a / 1048576 }'; }

echo
echo "### Miss ratio, read-through, $REQUESTS requests over $KEYS keys, 16 B keys, 100 B values, ${MEMORY_MIB} MiB"
echo
echo "| trace | discache (SIEVE) | LRU, same engine and memory | memcached -m $MEMORY_MIB | discache-node over RPC |"
echo "| --- | --- | --- | --- | --- |"
for name in "${TRACES[@]}"; do
  echo "| $name | ${MISS[$name,sieve]} | ${MISS[$name,lru]} | ${MISS[$name,memcached]:-n/a} | ${MISS[$name,node]:-n/a} |"
done
echo
echo "Items held when full: discache ${MISS[zipf-0.99,sieve,items]}, memcached ${MISS[zipf-0.99,memcached,items]:-n/a} (at the end of the zipf-0.99 run)."
if (( LONG )); then
  echo
  echo "| trace, 20M requests | SIEVE | LRU |"
  echo "| --- | --- | --- |"
  for name in "${TRACES[@]}"; do
    echo "| $name | ${MISS[$name-long,sieve]} | ${MISS[$name-long,lru]} |"
  done
fi
echo
echo "### Resident memory per item, $ITEMS items, 16 B keys, 100 B values"
echo
echo "| | RSS before | RSS after | (after - before) / items | after / items |"
echo "| --- | --- | --- | --- | --- |"
echo "| discache-node --memory 1GiB ($node_items items, memory_used $node_used) | $(mib "$node_before") | $(mib "$node_after") | $(per $((node_after - node_before)) "$ITEMS") B | $(per "$node_after" "$ITEMS") B |"
if (( WITH_MEMCACHED )); then
  echo "| memcached -m 1024 -t 1 ($mc_items items) | $(mib "$mc_before") | $(mib "$mc_after") | $(per $((mc_after - mc_before)) "$ITEMS") B | $(per "$mc_after" "$ITEMS") B |"
fi
echo
echo "### RSS against --memory ${MEMORY_MIB}MiB after overfilling"
echo
echo "| values | items held | key+value bytes | memory_used | RSS idle | RSS full | RSS - limit |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
limit=$((MEMORY_MIB * 1048576))
for shape in fixed mixed; do
  label=$([[ $shape == fixed ]] && echo "100 B, $ITEMS items" || echo "1-16 KiB, ~200 MiB")
  echo "| $label | ${FILL[$shape,items]} | $(mib "${FILL[$shape,bytes]}") | $(mib "${FILL[$shape,used]}") | $(mib "${FILL[$shape,before]}") | $(mib "${FILL[$shape,rss]}") | $(mib $((FILL[$shape,rss] - limit))) |"
done
echo
echo "Raw output: $RAW"
