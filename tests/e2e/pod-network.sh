#!/bin/sh
# Runs as root on a booted [kubernetes] node (piped over SSH): pod traffic on a
# CNI-style bridge, through the node's own firewall.
#
# Two network namespaces ("pods") with addresses from the pod range hang on
# a bridge called cni0, as flannel's bridge plugin builds it. With
# br_netfilter and bridge-nf-call-iptables=1 their traffic crosses iptables'
# FORWARD chain, where ufw's `default deny routed` drops it unless piprep's
# routed rule for the pod range is there (k3s-io/k3s#8785: "[UFW BLOCK]
# IN=cni0 OUT=cni0"). Also: NetworkManager must leave cni0 and the veths alone.
#
#   pod-network.sh POD_NET  (the first three octets of two pod addresses, 10.244.0)
set -eu
net=${1:?usage: pod-network.sh POD_NET}
say() { echo "pod-network: $*"; }
fail() {
	say "FAILED: $*"
	exit 1
}

ip link add cni0 type bridge
ip link set cni0 up
for i in 1 2; do
	ip netns add "pod$i"
	ip link add "veth$i" type veth peer name eth0 netns "pod$i"
	ip link set "veth$i" master cni0 up
	ip -n "pod$i" addr add "$net.1$i/24" dev eth0
	ip -n "pod$i" link set eth0 up
	ip -n "pod$i" link set lo up
done
sleep 3
for d in cni0 veth1; do
	state=$(nmcli -g GENERAL.STATE device show "$d" 2>&1 || true)
	say "NetworkManager: $d: $state"
	case "$state" in *unmanaged*) ;; *) fail "NetworkManager manages $d" ;; esac
done

# A TCP service in pod2; pod1 connects to it.
ip netns exec pod2 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(5)
while True:
    c, _ = s.accept()
    c.recv(4)
    c.sendall(b"pong")
    c.close()
' &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 3
connect() {
	ip netns exec pod1 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], 8080), timeout=8)
s.sendall(b"ping")
print(s.recv(4).decode())
' "$net.12" 2>/dev/null
}

[ "$(connect)" = pong ] || fail "pod1 -> pod2 across cni0 is dropped with piprep's routed rules in place"
say "with the routed rules: pod1 $net.11 -> pod2 $net.12:8080 across cni0 passes"

# Without the routed rule for the pod range, the same traffic must be dropped.
n=$(ufw status numbered | sed -n "s/^\[ *\([0-9]*\)\] Anywhere  *ALLOW FWD  *${net%.*}\.0\.0\/16 .*/\1/p" | head -n 1)
[ -n "$n" ] || fail "no routed rule for the pod range in: $(ufw status numbered | tr '\n' '|')"
ufw --force delete "$n" >/dev/null
! connect >/dev/null || fail "pod1 -> pod2 still passes without the routed rule: the test proves nothing"
say "without it: dropped by 'default deny routed'"
blocked=$(dmesg 2>/dev/null | grep -a 'UFW BLOCK.*IN=cni0 OUT=cni0' | tail -n 1 || true)
[ -z "$blocked" ] || say "kernel log: ${blocked#*] }"
say ok
