#!/usr/bin/env bash
# Partition heal: six nodes (replicas 2), cut into n1 n2 n3 | n4 n5 n6. Each
# side overwrites and deletes keys, some keys on both sides; the cut heals;
# then fresh clients on both sides read every key for longer than the
# tombstones live (--tombstone-lifetime 10s, --unowned-grace 10s: after the
# heal settles, tombstones live 20 s, and the readers go on to +45 s).
# 40,000 other keys make the handoffs take long enough (about a second
# here) that reads land before them: that is the read gate's case.
#
# Asserted, over every read made once the reader's view shows all six nodes:
# no deleted key ever reads a value (not at healing, not after tombstones
# expire), no key reads a value older than its newest write, and the last
# round reads every key exactly as written last. For a key written on both
# sides the later write wins: versions are hybrid logical clocks, so on
# these hosts (one clock) that is the later one in real time. Covered: put
# then put, put then delete, delete then put, across sides.
# shellcheck source=tests/netns/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

netns_require
[[ -x "${DISCACHE_HEAL_CLIENT:-}" ]] ||
  fail "DISCACHE_HEAL_CLIENT must name an executable (run through 'meson test', which sets it)"
switch_add_bridge br1

readonly PORT=7400
readonly TIMING=(--probe-interval 100ms --suspect-after 500ms --dead-after 1200ms)
readonly NODE_ARGS=("${TIMING[@]}" --replicas 2 --tombstone-lifetime 10s --unowned-grace 10s)
readonly READ_SECONDS=45
readonly KEYS_PER_GROUP=12
readonly FILLER_KEYS=40000

for i in 1 2 3 4 5 6; do
  netns_add "$i"
  netns_attach "$(ns_name "$i")" "10.78.0.$i/24"
done
node_start n1 "$(ns_name 1)" "10.78.0.1:$PORT" "${NODE_ARGS[@]}"
for i in 2 3 4 5 6; do
  node_start "n$i" "$(ns_name "$i")" "10.78.0.$i:$PORT" "${NODE_ARGS[@]}" \
    --seed "10.78.0.$((i - 1)):$PORT" --seed "10.78.0.1:$PORT"
done
readonly ALL_ALIVE="n1=alive n2=alive n3=alive n4=alive n5=alive n6=alive"
wait_until 30 "all six see 6 alive" views_are "$ALL_ALIVE" n1 n2 n3 n4 n5 n6

# heal_client NS ARGS...: the test's client process inside NS.
heal_client() {
  local ns=$1
  shift
  ip netns exec "$ns" "$DISCACHE_HEAL_CLIENT" "$@"
}

# Key groups: what each side does to them, and what must win.
#   same        untouched after the first write          v0
#   del-a       deleted on side A                        deleted
#   del-b       deleted on side B                        deleted
#   put-a       overwritten on side A                    A's value
#   put-b       overwritten on side B                    B's value
#   ab-put      put on A, later put on B                 B's (later) value
#   ba-put      put on B, later put on A                 A's (later) value
#   a-put-b-del put on A, later deleted on B             deleted
#   a-del-b-put deleted on A, later put on B             B's (later) value
readonly KEY_GROUPS=(same del-a del-b put-a put-b ab-put ba-put a-put-b-del a-del-b-put)
keys_of() {
  local k
  for k in $(seq 1 "$KEYS_PER_GROUP"); do echo "$1-$k"; done
}
for file in v0 a1 b a2 expect; do
  : >"$NETNS_WORK/$file"
done
for group in "${KEY_GROUPS[@]}"; do
  for key in $(keys_of "$group"); do
    echo "put $key v0-$key" >>"$NETNS_WORK/v0"
    case $group in
      same) echo "$key v0-$key" ;;
      del-a) echo "del $key" >>"$NETNS_WORK/a1"; echo "$key deleted" ;;
      del-b) echo "del $key" >>"$NETNS_WORK/b"; echo "$key deleted" ;;
      put-a) echo "put $key a-$key" >>"$NETNS_WORK/a1"; echo "$key a-$key" ;;
      put-b) echo "put $key b-$key" >>"$NETNS_WORK/b"; echo "$key b-$key" ;;
      ab-put)
        echo "put $key a-$key" >>"$NETNS_WORK/a1"
        echo "put $key b-$key" >>"$NETNS_WORK/b"
        echo "$key b-$key" ;;
      ba-put)
        echo "put $key b-$key" >>"$NETNS_WORK/b"
        echo "put $key a2-$key" >>"$NETNS_WORK/a2"
        echo "$key a2-$key" ;;
      a-put-b-del)
        echo "put $key a-$key" >>"$NETNS_WORK/a1"
        echo "del $key" >>"$NETNS_WORK/b"
        echo "$key deleted" ;;
      a-del-b-put)
        echo "del $key" >>"$NETNS_WORK/a1"
        echo "put $key b-$key" >>"$NETNS_WORK/b"
        echo "$key b-$key" ;;
    esac >>"$NETNS_WORK/expect"
  done
done

# Bulk that the handoffs at the heal must move too, so they take long
# enough that a read can land before them (the read gate's case).
out=$(heal_client "$(ns_name 1)" fill "10.78.0.1:$PORT" filler "$FILLER_KEYS" 200) ||
  fail "filling failed: $out"
log "$out"
out=$(heal_client "$(ns_name 1)" write "10.78.0.1:$PORT" "$NETNS_WORK/v0") ||
  fail "writing the first values failed: $out"
log "$out (every key, before the cut)"

netns_move "$(ns_name 4)" br1
netns_move "$(ns_name 5)" br1
netns_move "$(ns_name 6)" br1
log "cut: n1 n2 n3 on br0, n4 n5 n6 on br1"
wait_until 15 "each side sees the other side dead" \
  eval 'views_are "n1=alive n2=alive n3=alive n4=dead n5=dead n6=dead" n1 n2 n3 &&
        views_are "n1=dead n2=dead n3=dead n4=alive n5=alive n6=alive" n4 n5 n6'

# Side A first, then side B, then side A again: each later write starts
# after the earlier one was acknowledged by both of its side's owners.
out=$(heal_client "$(ns_name 1)" write "10.78.0.1:$PORT" "$NETNS_WORK/a1") ||
  fail "side A's writes failed: $out"
log "side A: $out"
out=$(heal_client "$(ns_name 4)" write "10.78.0.4:$PORT" "$NETNS_WORK/b") ||
  fail "side B's writes failed: $out"
log "side B: $out"
out=$(heal_client "$(ns_name 2)" write "10.78.0.2:$PORT" "$NETNS_WORK/a2") ||
  fail "side A's later writes failed: $out"
log "side A again: $out"

netns_move "$(ns_name 4)" br0
netns_move "$(ns_name 5)" br0
netns_move "$(ns_name 6)" br0
log "healed: all six on br0; reading every key from both sides for ${READ_SECONDS}s"
heal_client "$(ns_name 1)" read "10.78.0.1:$PORT" "$NETNS_WORK/expect" "$READ_SECONDS" 6 \
  >"$NETNS_WORK/read-a" 2>&1 &
reader_a=$!
heal_client "$(ns_name 5)" read "10.78.0.5:$PORT" "$NETNS_WORK/expect" "$READ_SECONDS" 6 \
  >"$NETNS_WORK/read-b" 2>&1 &
reader_b=$!
wait_until 20 "all six see 6 alive again" views_are "$ALL_ALIVE" n1 n2 n3 n4 n5 n6

status=0
wait "$reader_a" || status=1
wait "$reader_b" || status=1
log "reader in side A's namespace (seed n1):"
sed 's/^/    /' "$NETNS_WORK/read-a" >&2
log "reader in side B's namespace (seed n5):"
sed 's/^/    /' "$NETNS_WORK/read-b" >&2
((status == 0)) || fail "a reader saw a deleted key's value, a stale value, or did not converge"
# "From the start of healing": each reader's counted rounds began within a
# few seconds of the heal, not after the window that matters.
for reader in read-a read-b; do
  first=$(sed -n 's/^+\([0-9]*\)\.[0-9]*s first round with .*/\1/p' "$NETNS_WORK/$reader")
  [[ -n "$first" && "$first" -lt 5 ]] ||
    fail "$reader only saw all six nodes ${first:-never} s after the heal"
done

# The mechanisms, not only the outcome: every node closed its read gate at
# the heal and opened it again, and the handoffs carried deletes.
for name in "${NODE_NAMES[@]}"; do
  grep -q "reads miss until handoffs have landed" "${NODE_LOG[$name]}" ||
    fail "$name never closed its read gate"
  grep -q "read gate open" "${NODE_LOG[$name]}" || fail "$name never opened its read gate again"
done
deletes=$(cat "${NODE_LOG[@]}" |
  sed -n 's/.*handoff done: [0-9]* copies sent (\([0-9]*\) of them deletes).*/\1/p' |
  awk '{ s += $1 } END { print s + 0 }')
((deletes > 0)) || fail "no handoff carried a delete"
log "handoffs carried $deletes deletes in all"
log "PASS"
