#!/usr/bin/env bash
# Builds discache with AddressSanitizer and UndefinedBehaviorSanitizer (clang,
# in ./build-asan; ./build is untouched) and runs every test there, plus the
# bounded fuzz run (suite 'fuzz', tests/fuzz/run_fuzz.sh).
#
#   tools/run-sanitizers.sh                  # build, then run everything
#   tools/run-sanitizers.sh --build-only     # what tools/run-tests.sh starts early
#   tools/run-sanitizers.sh --test-only [meson test args, e.g. --suite security]
#
# Everything is instrumented: test binaries, the client library and the
# discache-node processes the tests start. Each child's output is kept in
# build-asan/asan-child-logs/ (the harness's DISCACHE_TEST_LOG_DIR): a
# sanitizer report there fails the run even if its test passed.
# Last line: "N passed, N failed" like tools/run-tests.sh; exits non-zero on
# any failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

dir=build-asan
mode=all
case "${1:-}" in
  --build-only) mode=build; shift ;;
  --test-only) mode=test; shift ;;
esac

# clang 19: the first clang whose C++20 support lets libstdc++ 12 declare
# std::expected (tools/install-deps.sh installs it).
compiler=${DISCACHE_SANITIZER_CXX:-clang++-19}

if [ "$mode" != test ]; then
  if [ ! -f "$dir/build.ninja" ]; then
    # -O1 -g0: the instrumented build is for finding bugs, not speed; this
    # halves its compile time. b_lundef=false: the sanitized shared client
    # library leaves the sanitizer runtime's symbols to the executable.
    if ! CXX=$compiler CC=${compiler/++/} meson setup "$dir" \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Doptimization=1 -Ddebug=false -Dfuzz=enabled >"$dir.setup.log" 2>&1; then
      cat "$dir.setup.log"
      echo "meson setup of the sanitizer build failed"
      echo "0 passed, 1 failed"
      exit 1
    fi
  fi
  # Only what the tests run (and the nodes, tools and examples they start):
  # benchmarks are not built here.
  targets=$(cd "$dir" && python3 - <<'PY'
import json, os, subprocess
tests = json.loads(subprocess.check_output(["meson", "introspect", "--tests"]))
targets = {t["id"]: t for t in json.loads(subprocess.check_output(["meson", "introspect", "--targets"]))}
out = set()
for test in tests:
    cmd = test["cmd"][0]
    if cmd.startswith(os.getcwd()):
        out.add(os.path.relpath(cmd))
    for dep in test.get("depends", []):
        for f in targets.get(dep, {}).get("filename", []):
            out.add(os.path.relpath(f))
print(" ".join(sorted(out)))
PY
)
  # shellcheck disable=SC2086  # one word per target
  if ! ninja -C "$dir" $targets; then
    echo "sanitizer build failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  if [ "$mode" = build ]; then
    exit 0
  fi
fi

logs="$dir/asan-child-logs"
rm -rf "$logs" "$dir/meson-logs/testlog.json"
mkdir -p "$logs"
# halt_on_error: a UBSan finding ends the process (and fails its test)
# instead of scrolling by. detect_leaks: LeakSanitizer checks every process
# that exits normally (nodes stopped with SIGTERM included).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export DISCACHE_TEST_LOG_DIR="$PWD/$logs"
# Instrumented code runs 2-3x slower: scale meson's per-test timeouts.
meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 \
  --timeout-multiplier 3 "$@"
status=$?

python3 - "$dir/meson-logs/testlog.json" "$logs" <<'PY'
import glob, json, os, re, sys
log_json, child_logs = sys.argv[1], sys.argv[2]
passed = failed = skipped = 0
texts = []
try:
    with open(log_json) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            result = t.get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED (sanitizer build): {t.get('name')} ({result})")
            texts.append((t.get("name", "?"), (t.get("stdout") or "") + (t.get("stderr") or "")))
except FileNotFoundError:
    failed += 1
for path in sorted(glob.glob(os.path.join(child_logs, "**", "*"), recursive=True)):
    if os.path.isfile(path):
        with open(path, errors="replace") as f:
            texts.append((os.path.relpath(path, child_logs), f.read()))
report = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^\n]*")
found = [(where, m.group(0)) for where, text in texts for m in report.finditer(text)]
for where, line in found[:20]:
    print(f"sanitizer report in {where}: {line[:200]}")
if found:
    failed += 1  # one more failure: "no sanitizer report anywhere"
else:
    passed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
summary_status=$?
if [ "$status" -eq 0 ] && [ "$summary_status" -ne 0 ]; then
  status=1
fi
exit "$status"
