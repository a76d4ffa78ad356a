#!/usr/bin/env bash
# Set-up command (1): installs what is missing, builds, starts a local 3-node
# cluster, walks through put / get / delete / has_key, members and ring, then
# stops the cluster (nothing is left running).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/build.sh >/dev/null
echo "discache: built into ./build"

NODE=build/discache-node/discache-node
CTL=build/tools/ctl/discache-ctl
BASE_PORT=${DISCACHE_QUICKSTART_PORT:-7400}
LOGDIR=$(mktemp -d /tmp/discache-quickstart.XXXXXX)
pids=()

stop_cluster() {
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    echo "discache: cluster stopped (logs in $LOGDIR)"
  fi
}
trap stop_cluster EXIT

seed="127.0.0.1:$BASE_PORT"
for i in 0 1 2; do
  port=$((BASE_PORT + i))
  args=(--listen "127.0.0.1:$port" --name "node$((i + 1))")
  [ "$i" -gt 0 ] && args+=(--seed "$seed")
  "$NODE" "${args[@]}" 2>"$LOGDIR/node$((i + 1)).log" &
  pids+=($!)
done

# Wait (bounded) until every node is up and all three know each other.
deadline=$((SECONDS + 15))
until [ "$("$CTL" --seed "$seed" members --json 2>/dev/null | grep -c '"state": "alive"')" = 3 ]; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "discache: a node failed to start (is port $BASE_PORT..$((BASE_PORT + 2)) free?)" >&2
      cat "$LOGDIR"/*.log >&2
      exit 2
    fi
  done
  if [ $SECONDS -ge $deadline ]; then
    echo "discache: the cluster did not form within 15 s" >&2
    cat "$LOGDIR"/*.log >&2
    exit 2
  fi
  sleep 0.2
done

run() {
  echo
  printf '$ discache-ctl'; printf " %q" "$@"; echo
  set +e
  "$CTL" --seed "$seed" "$@"
  local rc=$?
  set -e
  [ $rc -ne 0 ] && echo "(exit $rc)"
  return 0
}

echo "discache: 3 nodes running on $seed and the next two ports"
run members
run ring
run put user1 '{"name": "Jane", "email": "jane@example.com"}'
run get user1
run has user1
run owners user1
run del user1
run get user1
run has user1
run stats
echo
echo "discache: walkthrough done"
