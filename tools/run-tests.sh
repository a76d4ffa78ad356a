#!/usr/bin/env bash
# Set-up command (2): installs what is missing, builds, runs every test.
# Last line: "N passed, N failed" (what CI reads); exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
if ! tools/build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

rm -f build/meson-logs/testlog.json
meson test -C build --print-errorlogs --num-processes 2 "$@"
status=$?

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
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
)
if [ "$status" -eq 0 ] && [[ "$summary" != *" 0 failed"* ]]; then
  status=1
fi
if [[ "$summary" == "0 passed, 0 failed"* ]]; then
  summary="0 passed, 1 failed"   # no test ran: treat as failure
  status=1
fi
echo "$summary"
exit "$status"
