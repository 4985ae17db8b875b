#!/bin/bash
# Interop check (issue 19 item 1): a real softphone calls Switchboard through a
# record-routing Kamailio it cannot bypass, in the network-namespace topology of
# tests/common/netns.rs (callers' network, proxy host, Switchboard's network; the proxy
# host forwards RTP only). Flows: IVR with RFC 4733 digits (2, then 1: Switchboard hangs
# up), the same with SIP INFO digits (pjsua2), and a bridged call to a sipp manager
# (record-routed through the proxy too) that the caller ends with BYE.
#
# usage: tests/interop/via_proxy.sh [OUTDIR]       (as root: it creates namespaces)
#   env: PHONE (pjsua2 default, or baresip), PJ_PYTHON, SWITCHBOARD_BIN as in
#        feature_code_holdback.sh
# needs: iproute2 kamailio sip-tester, and pjsua2-python or baresip-core. Not in CI
# (tests/proxy_topology.rs runs these flows with sipp in CI).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SWITCHBOARD_BIN:-$REPO/target/debug/switchboard}
PHONE=${PHONE:-pjsua2}
PJ_PYTHON=${PJ_PYTHON:-/tmp/pjvenv/bin/python}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/sb-proxy.XXXXXX")}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); rm -rf "${OUT:?}"/*
ID=$$; C=sbi-c-$ID; P=sbi-p-$ID; S=sbi-s-$ID
CALLER=10.219.1.2; PC=10.219.1.1; PS=10.219.2.1; SW=10.219.2.2
cleanup() {
    for ns in $C $P $S; do
        for pid in $(ip netns pids $ns 2>/dev/null); do kill -9 "$pid"; done
        ip netns del $ns 2>/dev/null
    done
}
trap cleanup EXIT
for ns in $C $P $S; do ip netns add $ns; ip -n $ns link set lo up; done
ip -n $P link add vc type veth peer name eth0 netns $C
ip -n $P link add vs type veth peer name eth0 netns $S
ip -n $C addr add $CALLER/24 dev eth0; ip -n $C link set eth0 up
ip -n $P addr add $PC/24 dev vc; ip -n $P link set vc up
ip -n $P addr add $PS/24 dev vs; ip -n $P link set vs up
ip -n $S addr add $SW/24 dev eth0; ip -n $S link set eth0 up
ip -n $C route add default via $PC; ip -n $S route add default via $PS
ip -n $P rule add pref 100 iif vc to $SW ipproto udp dport 20000-20038 lookup main
ip -n $P rule add pref 101 iif vs from $SW ipproto udp sport 20000-20038 lookup main
ip -n $P rule add pref 110 iif vc prohibit
ip -n $P rule add pref 111 iif vs prohibit
ip netns exec $P sysctl -q -w net.ipv4.ip_forward=1
MODS=$(dirname "$(ls /usr/lib/*/kamailio/modules/sl.so /usr/lib/kamailio/modules/sl.so 2>/dev/null | head -1)")/
sed -e "s/@CALLER_SIDE@/$PC/g; s/@SWITCH_SIDE@/$PS/g; s/@SWITCHBOARD@/$SW:5060/g; s#@MODULES@#$MODS#" \
    "$REPO/tests/proxy/kamailio.cfg" > "$OUT/kamailio.cfg"
mkdir -p "$OUT/run"
ip netns exec $P kamailio -f "$OUT/kamailio.cfg" -DD -E -m 32 -M 8 -Y "$OUT/run" > "$OUT/kamailio.log" 2>&1 &
disown   # ended with its namespace by cleanup
cat > "$OUT/sb.toml" <<EOT
[server]
sip_listen = "$SW:5060"
http_listen = "127.0.0.1:8080"
rtp_ports = "20000-20038"
prompts_dir = "$REPO/prompts"
data_dir = "$OUT/data"
trunks = ["$PS"]
[[numbers]]
number = "1000"
action = "menu:main"
[menus.main]
prompt = "main_menu"
options = { "2" = "menu:more" }
timeout_secs = 10
[menus.more]
prompt = "support_menu"
options = { "1" = "play:goodbye -> hangup" }
timeout_secs = 10
[[numbers]]
number = "2000"
action = "department:sales"
[departments.sales]
members = ["andrew"]
[managers.andrew]
extension = "101"
contact = "sip:101@$SW:5080"
EOT
ip netns exec $S env SWITCHBOARD_LOG=debug NO_COLOR=1 "$BIN" run --config "$OUT/sb.toml" > "$OUT/router.log" 2>&1 &
disown
sleep 1.5
head -c 16000 /dev/zero | tr '\0' '\377' > "$OUT/silence.ulaw"   # 2 s of μ-law silence for sipp
fail=0
check() { # check NAME CONDITION-TEXT RESULT
    if [ "$3" = 0 ]; then echo "  ok   $1: $2"; else echo "  FAIL $1: $2"; fail=1; fi
}
call() { # call NAME NUMBER DTMF METHOD HOLD
    local name=$1 number=$2 dtmf=$3 method=$4 hold=$5
    case "$PHONE" in
        pjsua2)
            local args=(--bind $CALLER --port 5070 --rtp-port 6000 --hold "$hold" --timeout 30)
            [ -n "$dtmf" ] && args+=(--dtmf "$dtmf" --dtmf-method "$method")
            ip netns exec $C timeout 40 "$PJ_PYTHON" "$REPO/tests/interop/pjsua2_caller.py" \
                "sip:$number@$PC:5060" "${args[@]}" > "$OUT/$name.phone.log" 2>&1 ;;
        baresip)
            bash "$REPO/tests/interop/baresip_conf.sh" "$OUT/bs-$name" $CALLER 5070 25444 6000-6009 \
                alice manual "$REPO/prompts/support_menu.wav" eth0
            ip netns exec $C timeout 40 baresip -f "$OUT/bs-$name" -t 35 < /dev/null > "$OUT/$name.phone.log" 2>&1 &
            local bs=$!; sleep 1.5
            local cmds=("dial sip:$number@$PC:5060" 'sleep 2.5')
            for ((i = 0; i < ${#dtmf}; i++)); do cmds+=("sndcode ${dtmf:$i:1}" 'sleep 0.8'); done
            cmds+=("sleep $hold" 'hangup' 'sleep 1')
            ip netns exec $C timeout 40 python3 "$REPO/tests/interop/baresip_ctl.py" 25444 1 "${cmds[@]}" \
                > "$OUT/$name.ctl.log" 2>&1
            kill $bs 2>/dev/null; wait $bs 2>/dev/null ;;
    esac
}
routed() { grep -c "in-dialog $1 routed to $2" "$OUT/kamailio.log"; }

echo "caller: $PHONE through Kamailio ($(kamailio -v | head -1)); artifacts in $OUT"
call ivr 1000 21 rfc2833 30
grep -q "menu more: caller chose 1" "$OUT/router.log"; check "IVR, RFC 4733 digits" "2 then 1 chosen" $?
grep -q 'call ended after [0-9.]* s: Completed("dial plan: hang up")' "$OUT/router.log"; check "IVR" "our BYE ended the call" $?
if [ "$PHONE" = pjsua2 ]; then
    call info 1000 21 info 30
    [ "$(grep -c 'caller pressed . (Info)' "$OUT/router.log")" = 2 ]; check "IVR, SIP INFO digits" "2 and 1 by INFO" $?
fi
ip netns exec $S timeout 40 sipp -sf "$REPO/tests/sipp/uas_answer_via_proxy.xml" -i $SW -p 5080 -mi $SW -mp 7000 \
    -m 1 -key proxy $PS -key phone_audio "$OUT/silence.ulaw,-1,0" -nostdin -timeout 35s > "$OUT/manager.out" 2>&1 &
mgr=$!; sleep 0.5
call bridge 2000 "" rfc2833 5
wait $mgr; check "bridged call" "the manager's phone got ACK and BYE through the proxy" $?
grep -q "caller hung up" "$OUT/router.log"; check "bridged call" "the caller's BYE reached Switchboard" $?
echo "  proxy routed by its Route: ACK to Switchboard $(routed ACK "sip:$SW:5060"), INFO $(routed INFO "sip:$SW:5060"), BYE to Switchboard $(routed BYE "sip:$SW:5060"), BYE to the caller $(grep -c "in-dialog BYE routed to sip:[^ ]*@$CALLER" "$OUT/kamailio.log"), ACK/BYE to the manager $(routed ACK "sip:$SW:5080")/$(routed BYE "sip:$SW:5080")"
! grep -q refused "$OUT/kamailio.log"; check "route sets" "the proxy refused no request" $?
[ $fail = 0 ] && echo "PASS" || echo "FAIL"
exit $fail
