#!/bin/bash
# Interop check (issue 18, item 3): the default digest offer against four real SIP
# stacks. Each peer registers with a router running the default [server] settings;
# the script prints whether it registered, after how long, and the algorithm of every
# Authorization it sent (from the router's debug log). See docs/interop.md.
#
# usage: tests/interop/digest_register.sh [OUTDIR]
#   env: SWITCHBOARD_BIN  router binary (default: target/debug/switchboard)
#        PJ_PYTHON        a python with pjsua2 (default /tmp/pjvenv/bin/python)
#        PEERS            which peers (default "sipp baresip linphone linphone-sha256 pjsua2")
# needs: sip-tester baresip-core linphone-cli, and pjsua2-python in a venv:
#   apt-get install -y --no-install-recommends sip-tester baresip-core linphone-cli
#   python3 -m venv /tmp/pjvenv && /tmp/pjvenv/bin/pip install pjsua2-python
# Everything runs on 127.0.0.1. Not part of CI (linphone and pjsua2 are not installed
# there; tests/sipp_register.rs and tests/baresip_register.rs cover sipp and baresip).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SWITCHBOARD_BIN:-$REPO/target/debug/switchboard}
PJ_PYTHON=${PJ_PYTHON:-/tmp/pjvenv/bin/python}
PEERS=${PEERS:-"sipp baresip linphone linphone-sha256 pjsua2"}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/sb-digest.XXXXXX")}
mkdir -p "$OUT"
BASE=$((30000 + (RANDOM % 300) * 100))
SB=$BASE; PHONE=$((BASE + 10)); RTP="$((BASE + 50))-$((BASE + 99))"
FAIL=0

start_router() { # DIR
    cat > "$1/sb.toml" << T
[server]
sip_listen = "127.0.0.1:$SB"
http_listen = "off"
rtp_ports = "$RTP"
prompts_dir = "$REPO/prompts"
data_dir = "$1/data"

[[numbers]]
number = "*"
action = "hangup"

[managers.andrew]
extension = "101"
password = "pw101"
T
    SWITCHBOARD_LOG=debug NO_COLOR=1 "$BIN" run --config "$1/sb.toml" > "$1/router.log" 2>&1 &
    ROUTER=$!
    for _ in $(seq 50); do grep -q "Switchboard ready" "$1/router.log" 2> /dev/null && return; sleep 0.2; done
    echo "FAIL: router did not start ($1/router.log)"; exit 2
}

report() { # NAME DIR STARTED
    local algs n
    n=$(grep -c "REGISTER answered 200" "$2/router.log")
    algs=$(grep -E "^Authorization:" "$2/router.log" | grep -o -E "algorithm=[A-Z0-9-]+" |
        sed 's/algorithm=//' | tr '\n' ' ')
    # An Authorization without algorithm= means MD5 (RFC 7616 §3.4).
    [ -z "$algs" ] && grep -q "^Authorization:" "$2/router.log" && algs="MD5(implicit)"
    if [ "$n" -gt 0 ]; then
        local first
        first=$(grep -m1 "REGISTER answered 200" "$2/router.log" | cut -c1-26)
        local t0 t1
        t0=$(date -d "$(grep -m1 "REGISTER answered" "$2/router.log" | cut -c1-26)" +%s.%N)
        t1=$(date -d "$first" +%s.%N)
        printf '  ok   %-16s registered %.1f s after its first REGISTER (%d x 200); algorithms used: %s\n' \
            "$1" "$(echo "$t1 - $t0" | bc)" "$n" "$algs"
    else
        printf '  FAIL %-16s never registered; see %s\n' "$1" "$2"
        FAIL=1
    fi
    grep -E "offering MD5 alone|offering SHA-256 first" "$2/router.log" | sed 's/^.*INFO /       router: /' | cut -c1-140
}

for peer in $PEERS; do
    D="$OUT/$peer"; rm -rf "$D"; mkdir -p "$D"
    start_router "$D"
    case $peer in
    sipp)
        sipp 127.0.0.1:$SB -sf "$REPO/tests/sipp/uac_register_auth.xml" -au 101 -ap pw101 \
            -i 127.0.0.1 -p $PHONE -m 1 -nostdin -timeout 20s > "$D/peer.log" 2>&1
        ;;
    baresip)
        mkdir -p "$D/bs"
        printf 'poll_method\tepoll\nnet_interface\t127.0.0.1\nsip_listen\t127.0.0.1:%s\naudio_player\taufile,/dev/null\naudio_source\taufile,/dev/null\nmodule_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule_tmp\taccount.so\n' $PHONE > "$D/bs/config"
        echo "<sip:101@127.0.0.1:$SB>;auth_pass=pw101;regint=600" > "$D/bs/accounts"
        baresip -f "$D/bs" < /dev/null > "$D/peer.log" 2>&1 &
        P=$!
        for _ in $(seq 450); do grep -q "REGISTER answered 200" "$D/router.log" && break; sleep 0.2; done
        kill $P; wait $P 2> /dev/null
        ;;
    linphone | linphone-sha256)
        mkdir -p "$D/.local/share/linphone"
        printf '[sip]\nauto_net_state_mon=0\nsip_port=%s\nsip_tcp_port=0\nsip_tls_port=0\nguess_hostname=0\ndefault_proxy=0\nregister_only_when_network_is_up=0\n[rtp]\naudio_rtp_port=%s\n[sound]\nechocancellation=0\n[video]\nenabled=0\ncapture=0\ndisplay=0\n' \
            $PHONE $((PHONE + 2)) > "$D/linphonerc"
        ALG=""; [ $peer = linphone-sha256 ] && ALG="algorithm=SHA-256"
        printf '[proxy_0]\nreg_proxy=<sip:127.0.0.1:%s>\nreg_identity=sip:101@127.0.0.1:%s\nreg_expires=60\nreg_sendregister=1\n[auth_info_0]\nusername=101\npasswd=pw101\nrealm=switchboard\n%s\n' \
            $SB $SB "$ALG" >> "$D/linphonerc"
        # 70 s: the registration (60 s) is refreshed once.
        (sleep 70; echo quit) | HOME=$D timeout 80 linphonec -c "$D/linphonerc" > "$D/peer.log" 2>&1
        ;;
    pjsua2)
        "$PJ_PYTHON" "$REPO/tests/interop/pjsua2_register.py" --registrar sip:127.0.0.1:$SB \
            --user 101 --password pw101 --port $PHONE --refresh --timeout 80 > "$D/peer.log" 2>&1
        ;;
    esac
    kill $ROUTER; wait $ROUTER 2> /dev/null
    report "$peer" "$D"
done
[ $FAIL = 0 ] && echo "PASS" || echo "FAIL"
exit $FAIL
