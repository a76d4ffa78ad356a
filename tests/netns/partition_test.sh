#!/usr/bin/env bash
# Partition: four nodes n1 n2 | n3 n4, each in its own namespace on one
# bridge. Cutting the link (moving n3's and n4's switch ports to a second,
# unconnected bridge) makes each half mark the other half dead; each half
# keeps serving puts and gets through a seed on its side. Healing the link
# (moving the ports back) brings every node's view back to four alive.
# shellcheck source=tests/netns/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

netns_require
switch_add_bridge br1

readonly PORT=7400
# Fast failure detection so the test takes seconds, not tens of seconds.
readonly TIMING=(--probe-interval 100ms --suspect-after 500ms --dead-after 1200ms)
for i in 1 2 3 4; do
  netns_add "$i"
  netns_attach "$(ns_name "$i")" "10.77.0.$i/24"
done
node_start n1 "$(ns_name 1)" "10.77.0.1:$PORT" "${TIMING[@]}"
node_start n2 "$(ns_name 2)" "10.77.0.2:$PORT" "${TIMING[@]}" --seed "10.77.0.1:$PORT"
node_start n3 "$(ns_name 3)" "10.77.0.3:$PORT" "${TIMING[@]}" --seed "10.77.0.2:$PORT"
node_start n4 "$(ns_name 4)" "10.77.0.4:$PORT" "${TIMING[@]}" --seed "10.77.0.3:$PORT" \
  --seed "10.77.0.1:$PORT"

readonly ALL_ALIVE="n1=alive n2=alive n3=alive n4=alive"
wait_until 20 "all four see 4 alive" views_are "$ALL_ALIVE" n1 n2 n3 n4

netns_move "$(ns_name 3)" br1
netns_move "$(ns_name 4)" br1
log "cut: n1 n2 on br0, n3 n4 on br1"
wait_until 10 "each half sees the other half dead" \
  eval 'views_are "n1=alive n2=alive n3=dead n4=dead" n1 n2 &&
        views_are "n1=dead n2=dead n3=alive n4=alive" n3 n4'

# half_serves NS SEED TAG: puts eight keys through SEED and reads them back.
# Eight keys land on both nodes of the half (unless the ring still held the
# far half, in which case some would fail).
half_serves() {
  local ns=$1 seed=$2 tag=$3
  local k value
  for k in 1 2 3 4 5 6 7 8; do
    if ! ctl "$ns" --seed "$seed" put "$tag-key-$k" "$tag-value-$k" >/dev/null; then
      fail "put $tag-key-$k through $seed failed during the partition"
    fi
    if ! value=$(ctl "$ns" --seed "$seed" get "$tag-key-$k"); then
      fail "get $tag-key-$k through $seed failed during the partition"
    fi
    [[ "$value" == "$tag-value-$k" ]] ||
      fail "get $tag-key-$k through $seed gave '$value', expected '$tag-value-$k'"
  done
}
half_serves "$(ns_name 1)" "10.77.0.1:$PORT" left
half_serves "$(ns_name 4)" "10.77.0.4:$PORT" right
log "each half served 8 puts and gets"

netns_move "$(ns_name 3)" br0
netns_move "$(ns_name 4)" br0
log "healed: all four on br0"
wait_until 20 "all four see 4 alive again" views_are "$ALL_ALIVE" n1 n2 n3 n4
log "PASS"
