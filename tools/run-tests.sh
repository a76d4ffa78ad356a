#!/usr/bin/env bash
# Set-up command (2): installs what is missing, builds, runs every test twice:
# in ./build (g++, as shipped) and in ./build-asan (clang with AddressSanitizer
# and UndefinedBehaviorSanitizer, plus a bounded fuzz run; see
# tools/run-sanitizers.sh).
# Last line: "N passed, N failed" over both (what CI reads); exit status
# non-zero on any failure. Extra arguments go to both `meson test` runs.
set -uo pipefail
cd "$(dirname "$0")/.."

# Progress on stderr: where the minutes go (CI's budget is the sum).
phase() { echo "[run-tests] $1 (${SECONDS}s since start)" >&2; }

tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
phase "dependencies ready"
if ! tools/build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
phase "plain build done"

# The sanitizer build compiles while the plain suite runs: the tests mostly
# wait on sockets and timers, and the build runs at low CPU priority so
# timing-sensitive tests keep theirs.
nice -n 15 tools/run-sanitizers.sh --build-only >build-asan.build.log 2>&1 &
sanitizer_build=$!

rm -f build/meson-logs/testlog.json
meson test -C build --print-errorlogs --num-processes 2 "$@"
status=$?
phase "plain suite done"

# Count from meson's own machine-readable log, one JSON object per test.
summary=$(python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            result = json.loads(line).get("result", "")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
except FileNotFoundError:
    failed = 1
print(passed, failed, skipped)
PY
)
read -r passed failed skipped <<<"$summary"

if wait "$sanitizer_build"; then
  phase "sanitizer build done"
  tools/run-sanitizers.sh --test-only "$@" | tee build-asan.test.log
  phase "sanitizer suite done"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  read -r s_passed s_failed s_skipped <<<"$(tail -n 1 build-asan.test.log |
    sed -E 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/')"
else
  tail -n 40 build-asan.build.log
  echo "sanitizer build failed (log: build-asan.build.log)"
  s_passed=0 s_failed=1 s_skipped=0
  status=1
fi
passed=$((passed + ${s_passed:-0}))
failed=$((failed + ${s_failed:-1}))
skipped=$((skipped + ${s_skipped:-0}))

if [ "$failed" -ne 0 ]; then
  status=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # no test ran: treat as failure
  status=1
fi
echo "$passed passed, $failed failed$([ "$skipped" -ne 0 ] && echo ", $skipped skipped")"
exit "$status"
