#!/usr/bin/env bash
# Runs the node fuzz target for a bounded time over the committed seed corpus.
#   tests/fuzz/run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS
# New inputs go to WORK_DIR (the committed corpus is only read); a crash is
# saved as WORK_DIR/crash-* and fails the run (exit non-zero). To keep a
# crashing input, fix the bug and copy the file into tests/fuzz/corpus/.
set -uo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 FUZZER SEED_DIR WORK_DIR SECONDS" >&2
  exit 2
fi
fuzzer=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus"



# halt_on_error: undefined behaviour is a crash, saved like one.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
