#!/usr/bin/env bash
# DNS discovery: one name resolving to three addresses, as a Kubernetes
# headless service does. Three nodes listen on those addresses (on lo of one
# namespace) with --discover dns:NAME:7400 and no seed, and converge to 3.
# Then a fourth node, started alone (no seed, no discovery), is added to the
# name: the others find it when they re-resolve (every 5 s).
#
# The name comes from a hosts file the test controls: `ip netns exec NS`
# bind-mounts /etc/netns/NS/hosts over /etc/hosts, and glibc's getaddrinfo
# returns every address a hosts file lists for one name.
# shellcheck source=tests/netns/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

netns_require

readonly PORT=7400
readonly NAME="discache-peers.test"
netns_add dns
ns=$(ns_name dns)
for i in 1 2 3 4; do
  ip -n "$ns" addr add "10.78.0.$i/32" dev lo
done

etc_dir="/etc/netns/$ns"
mkdir -p "$etc_dir"
NETNS_ETC_DIRS+=("$etc_dir")
{
  echo "127.0.0.1 localhost"
  for i in 1 2 3; do
    echo "10.78.0.$i $NAME"
  done
} >"$etc_dir/hosts"

# The mechanism itself: the name must resolve to all three inside the namespace.
resolved=$(ip netns exec "$ns" getent ahostsv4 "$NAME" | awk '$2 == "STREAM" { print $1 }' | sort | xargs)
[[ "$resolved" == "10.78.0.1 10.78.0.2 10.78.0.3" ]] ||
  fail "$NAME resolves to '$resolved' inside $ns, expected the three addresses"
log "$NAME resolves to $resolved inside the namespace"

for i in 1 2 3; do
  node_start "n$i" "$ns" "10.78.0.$i:$PORT" --discover "dns:$NAME:$PORT"
done
log "started n1..n3 with --discover dns:$NAME:$PORT and no seed"

wait_until 20 "n1, n2, n3 each see 3 alive" views_are "n1=alive n2=alive n3=alive" n1 n2 n3

node_start n4 "$ns" "10.78.0.4:$PORT"
expect_members "n4" n4
# Append, not replace: the namespace's processes see the bind-mounted inode.
echo "10.78.0.4 $NAME" >>"$etc_dir/hosts"
log "started n4 alone and added 10.78.0.4 to $NAME"
wait_until 15 "all four see 4 alive (re-resolution found n4)" \
  views_are "n1=alive n2=alive n3=alive n4=alive" n1 n2 n3 n4
log "PASS"
