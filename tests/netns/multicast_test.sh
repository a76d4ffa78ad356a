#!/usr/bin/env bash
# Multicast discovery: three nodes, each in its own namespace on one bridge,
# started with --discover multicast and no seed, form one cluster. A fourth
# node of another cluster (--cluster other) on the same bridge stays out.
# A fifth, also of cluster "other", then finds the fourth: the announcements
# do cross the bridge, so it is the cluster name that keeps them apart.
# shellcheck source=tests/netns/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

netns_require

readonly PORT=7400
for i in 1 2 3 4 5; do
  netns_add "$i"
  netns_attach "$(ns_name "$i")" "10.77.0.$i/24"
done

for i in 1 2 3; do
  node_start "n$i" "$(ns_name "$i")" "10.77.0.$i:$PORT" --discover multicast
done
log "started n1..n3 with --discover multicast and no seed"

readonly THREE="n1=alive n2=alive n3=alive"
wait_until 20 "n1, n2, n3 each see 3 alive" views_are "$THREE" n1 n2 n3

node_start x4 "$(ns_name 4)" "10.77.0.4:$PORT" --discover multicast --cluster other
log "started x4 with --cluster other on the same bridge"

# Announcements go out every second: for several periods, check that no
# node lists a member of the other cluster.
stays_apart() {
  local x4_members=$1 seconds=$2
  local start
  start=$(now_us)
  while (($(now_us) - start < seconds * 1000000)); do
    expect_members "n1 n2 n3" n1 n2 n3
    expect_members "$x4_members" x4
    sleep 0.2
  done
}
stays_apart "x4" 4
log "for 4 s: n1..n3 listed only each other, x4 only itself"

node_start x5 "$(ns_name 5)" "10.77.0.5:$PORT" --discover multicast --cluster other
readonly OTHER="x4=alive x5=alive"
wait_until 20 "x4 and x5 (cluster other) find each other" views_are "$OTHER" x4 x5
stays_apart "x4 x5" 3
log "for 3 s more: the two clusters stay apart"
log "PASS"
