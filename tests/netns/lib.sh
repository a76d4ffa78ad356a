# shellcheck shell=bash
# Shared helpers for the network-namespace tests. Source it from a test:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every interface these tests use lives in a namespace the test creates: a
# "switch" namespace holds the bridges, each node namespace gets one veth
# whose other end sits in the switch namespace. The host's own interfaces and
# routes are never touched. Names carry the test's PID, so two runs never
# collide, and an EXIT trap kills the nodes and deletes everything made.
#
# Environment (set by tests/netns/meson.build):
#   DISCACHE_NODE         the discache-node binary
#   DISCACHE_CTL          the discache-ctl binary
#   DISCACHE_MEMBER_VIEW  prints one node's own member list (member_view.cpp)

set -euo pipefail

readonly NETNS_SKIP=77
# Short, unique per run: interface names are limited to 15 characters.
readonly NETNS_TAG="dc$$"
readonly NETNS_SWITCH="${NETNS_TAG}sw"

NETNS_WORK=$(mktemp -d "/tmp/discache-netns-${NETNS_TAG}.XXXXXX")
NETNS_CREATED=()     # namespaces to delete
NETNS_ETC_DIRS=()    # /etc/netns/<ns> directories to remove
NODE_PIDS=()         # every node started
declare -A NODE_LOG=()
declare -A NODE_NS=()
declare -A NODE_ADDR=()
NODE_NAMES=()
NETNS_TEST_NAME=$(basename "$0" .sh)

# Microseconds since the epoch (bash 5's EPOCHREALTIME, no subprocess).
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
# seconds_since START_US: elapsed seconds with two decimals.
seconds_since() {
  local us=$(($(now_us) - $1))
  printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}
NETNS_START=$(now_us)

log() {
  echo "[$NETNS_TEST_NAME +$(seconds_since "$NETNS_START")s] $*" >&2
}

# Prints every node's log, for a failure.
dump_logs() {
  local name
  for name in "${NODE_NAMES[@]}"; do
    echo "----- log of node $name (${NODE_ADDR[$name]} in ${NODE_NS[$name]}) -----" >&2
    cat "${NODE_LOG[$name]}" >&2 || true
  done
}

# Prints the reason, the node logs, and exits 1 (the EXIT trap cleans up).
fail() {
  echo "FAIL: $NETNS_TEST_NAME: $*" >&2
  dump_logs
  exit 1
}

skip() {
  echo "SKIP: $NETNS_TEST_NAME: $*" >&2
  exit "$NETNS_SKIP"
}

netns_cleanup() {
  local status=$?
  local pid ns dir
  for pid in "${NODE_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${NODE_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # Deleting a namespace deletes the interfaces inside it (and a veth's peer).
  for ns in "${NETNS_CREATED[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  for dir in "${NETNS_ETC_DIRS[@]}"; do
    rm -rf "$dir"
  done
  rm -rf "$NETNS_WORK"
  exit "$status"
}
trap netns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Nodes on namespace addresses (not loopback) need a cookie; every node, ctl
# and probe here shares this one, so multicast announcements are signed too.
export DISCACHE_COOKIE="netns-test-cookie-$$"

# Exits 77 with a reason when this machine cannot run the tests: not root,
# no namespaces, no veth or bridge support, or a binary is missing.
netns_require() {
  local var
  for var in DISCACHE_NODE DISCACHE_CTL DISCACHE_MEMBER_VIEW; do
    if [[ -z "${!var:-}" || ! -x "${!var}" ]]; then
      fail "$var must name an executable (run through 'meson test', which sets it)"
    fi
  done
  command -v ip >/dev/null || skip "the 'ip' command (iproute2) is not installed"
  if [[ $(id -u) -ne 0 ]]; then
    skip "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces"
  fi
  # A run that died without its EXIT trap (SIGKILL) may have left namespaces
  # under this PID's tag; no live process can own them.
  local stale
  for stale in $(ip netns list | awk -v tag="$NETNS_TAG" \
    '$1 == tag "sw" || index($1, tag "-") == 1 { print $1 }'); do
    ip netns del "$stale" 2>/dev/null || true
    rm -rf "/etc/netns/$stale"
  done
  local err
  if ! err=$(ip netns add "$NETNS_SWITCH" 2>&1); then
    skip "cannot create a network namespace ('ip netns add' said: $err)"
  fi
  NETNS_CREATED+=("$NETNS_SWITCH")
  ip -n "$NETNS_SWITCH" link set lo up
  if ! err=$(ip -n "$NETNS_SWITCH" link add br0 type bridge 2>&1); then
    skip "cannot create a bridge inside a namespace: $err"
  fi
  if ! err=$(ip -n "$NETNS_SWITCH" link add "${NETNS_TAG}t0" type veth peer name "${NETNS_TAG}t1" 2>&1); then
    skip "cannot create a veth pair inside a namespace: $err"
  fi
  ip -n "$NETNS_SWITCH" link del "${NETNS_TAG}t0"
  # Forward multicast to every port without IGMP snooping: there is no querier.
  ip -n "$NETNS_SWITCH" link set br0 type bridge mcast_snooping 0
  ip -n "$NETNS_SWITCH" link set br0 up
}

# Adds another bridge to the switch namespace (e.g. the far side of a cut).
switch_add_bridge() {
  local bridge=$1
  ip -n "$NETNS_SWITCH" link add "$bridge" type bridge
  ip -n "$NETNS_SWITCH" link set "$bridge" type bridge mcast_snooping 0
  ip -n "$NETNS_SWITCH" link set "$bridge" up
}

# ns_name SUFFIX: the name of this run's namespace SUFFIX.
ns_name() {
  echo "${NETNS_TAG}-$1"
}

# netns_add SUFFIX: creates namespace $(ns_name SUFFIX) with lo up. Call it
# directly, not in $(...): it records the namespace for the cleanup.
netns_add() {
  local ns
  ns=$(ns_name "$1")
  ip netns add "$ns"
  NETNS_CREATED+=("$ns")
  ip -n "$ns" link set lo up
}

# The switch-side veth of namespace NS (≤ 15 characters).
switch_port() {
  echo "${NETNS_TAG}p${1##*-}"
}

# netns_attach NS CIDR [BRIDGE]: plugs NS into BRIDGE (default br0) as eth0
# with address CIDR. The veth is created in the switch namespace and its peer
# moved straight into NS: it never appears in the host's namespace.
netns_attach() {
  local ns=$1 cidr=$2 bridge=${3:-br0}
  local port
  port=$(switch_port "$ns")
  ip -n "$NETNS_SWITCH" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$NETNS_SWITCH" link set "$port" master "$bridge"
  ip -n "$NETNS_SWITCH" link set "$port" up
  ip -n "$ns" addr add "$cidr" dev eth0
  ip -n "$ns" link set eth0 up
}

# netns_move NS BRIDGE: moves NS's switch port to BRIDGE (cuts or heals a link).
netns_move() {
  ip -n "$NETNS_SWITCH" link set "$(switch_port "$1")" master "$2"
}

# wait_until SECONDS WHAT CMD...: runs CMD every 0.1 s until it succeeds;
# fails the test with WHAT if SECONDS (whole) pass first. Logs the time taken.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local start deadline
  start=$(now_us)
  deadline=$((start + limit * 1000000))
  LAST_VIEW=""
  while true; do
    if "$@"; then
      log "$what: after $(seconds_since "$start")s"
      return 0
    fi
    if (($(now_us) > deadline)); then
      fail "$what: not within ${limit}s (check: $*${LAST_VIEW:+; last: $LAST_VIEW})"
    fi
    sleep 0.1
  done
}

# node_start NAME NS HOST:PORT ARGS...: starts discache-node in NS and waits
# (at most 10 s) until it listens.
node_start() {
  local name=$1 ns=$2 listen=$3
  shift 3
  local log_file="$NETNS_WORK/$name.log"
  ip netns exec "$ns" "$DISCACHE_NODE" --name "$name" --listen "$listen" "$@" \
    >"$log_file" 2>&1 &
  local pid=$!
  NODE_PIDS+=("$pid")
  NODE_LOG[$name]=$log_file
  NODE_NS[$name]=$ns
  NODE_ADDR[$name]=$listen
  NODE_NAMES+=("$name")
  local deadline=$(($(now_us) + 10000000))
  until grep -qs "listening on $listen" "$log_file"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail "node $name exited before listening"
    fi
    if (($(now_us) > deadline)); then
      fail "node $name did not listen on $listen within 10s"
    fi
    sleep 0.05
  done
}

# node_view NAME: NAME's own member list, as "name=state" words sorted by name.
# Asked from inside NAME's namespace; empty output when the node does not answer.
node_view() {
  local name=$1
  ip netns exec "${NODE_NS[$name]}" "$DISCACHE_MEMBER_VIEW" "${NODE_ADDR[$name]}" 1000 \
    2>/dev/null | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $1, $2 } END { print "" }'
}

# view_is NAME EXPECTED: true when NAME's own view is exactly EXPECTED
# ("n1=alive n2=alive ..."). Remembers the last view seen for messages.
LAST_VIEW=""
view_is() {
  LAST_VIEW=$(node_view "$1")
  [[ "$LAST_VIEW" == "$2" ]]
}

# views_are EXPECTED NAME...: every named node's own view is EXPECTED.
views_are() {
  local expected=$1 name
  shift
  for name in "$@"; do
    if ! view_is "$name" "$expected"; then
      LAST_VIEW="$name sees: $LAST_VIEW"
      return 1
    fi
  done
}

# expect_members MEMBERS NAME...: asserts (once, no waiting) that every named
# node's own view lists exactly MEMBERS ("n1 n2 ..."), whatever their states:
# for checks over time, where a busy machine may briefly make a peer suspect.
expect_members() {
  local expected=$1 name seen
  shift
  for name in "$@"; do
    seen=$(node_view "$name" | sed -E 's/=[a-z]+//g')
    [[ "$seen" == "$expected" ]] ||
      fail "expected $name to list exactly '$expected'; it lists '$seen'"
  done
}

# ctl NS ARGS...: runs discache-ctl inside NS.
ctl() {
  local ns=$1
  shift
  ip netns exec "$ns" "$DISCACHE_CTL" "$@"
}
