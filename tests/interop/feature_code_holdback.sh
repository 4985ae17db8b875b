#!/bin/bash
# Interop check (issue 19 item 2): a real softphone is the caller; a sipp manager
# presses keys (RFC 4733 pcaps from tests/data) during the bridged call; the phone
# must report no digit for `*2 2` (which transfers the call to a second sipp phone), a
# lone `5`, and `*` then `5` for `*5`. See docs/interop.md.
#
# usage: tests/interop/feature_code_holdback.sh [OUTDIR]
#   env: PHONE            pjsua2 (default) or baresip
#        PJ_PYTHON        a python with pjsua2 (default /tmp/pjvenv/bin/python)
#        SWITCHBOARD_BIN  router binary (default: target/debug/switchboard)
#        BASE             first of 500 ports used on 127.0.0.1 (default 35000)
# needs: sip-tester, and pjsua2-python or baresip-core. 127.0.0.1 only. Not in CI.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SWITCHBOARD_BIN:-$REPO/target/debug/switchboard}
PHONE=${PHONE:-pjsua2}
PJ_PYTHON=${PJ_PYTHON:-/tmp/pjvenv/bin/python}
B=${BASE:-35000}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/sb-holdback.XXXXXX")}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
SIP=$((B + 60)); ANDREW=$((B + 200)); SOFIA=$((B + 210)); PH=$((B + 400)); CTRL=$((B + 444))
fail=0

one() { # one PCAP EXPECTED_DIGITS EXPECT_TRANSFER
    local pcap=$1 want=$2 transfer=$3 d="$OUT/$(basename "$1" .pcap)"
    mkdir -p "$d"; rm -rf "${d:?}"/*
    cat > "$d/sb.toml" <<EOT
[server]
sip_listen = "127.0.0.1:$SIP"
http_listen = "127.0.0.1:$((B + 80))"
rtp_ports = "$((B + 100))-$((B + 139))"
prompts_dir = "$REPO/prompts"
data_dir = "$d/data"
[[numbers]]
number = "2000"
action = "department:sales"
[departments.sales]
members = ["andrew"]
[departments.support]
members = ["sofia"]
[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:$ANDREW"
[managers.sofia]
extension = "104"
contact = "sip:104@127.0.0.1:$SOFIA"
[transfer]
code = "*2"
keys = { "2" = "department:support" }
EOT
    SWITCHBOARD_LOG=debug NO_COLOR=1 "$BIN" run --config "$d/sb.toml" > "$d/router.log" 2>&1 & local sb=$!
    sleep 1
    timeout 40 sipp -sf "$REPO/tests/sipp/uas_answer_dtmf.xml" -i 127.0.0.1 -p $ANDREW -mi 127.0.0.1 \
        -mp $((B + 300)) -m 1 -d 1500 -key dtmf_pcap "$REPO/tests/data/$pcap" -nostdin -timeout 35s \
        > "$d/andrew.out" 2>&1 & local a=$!
    timeout 40 sipp -sf "$REPO/tests/sipp/uas_answer.xml" -i 127.0.0.1 -p $SOFIA -mi 127.0.0.1 \
        -mp $((B + 310)) -m 1 -key phone_audio "$OUT/silence.ulaw,-1,0" -nostdin -timeout 20s > "$d/sofia.out" 2>&1 & local s=$!
    local got
    case "$PHONE" in
        pjsua2)
            timeout 40 "$PJ_PYTHON" "$REPO/tests/interop/pjsua2_caller.py" "sip:2000@127.0.0.1:$SIP" \
                --port $PH --rtp-port $((B + 450)) --hold 9 --timeout 25 > "$d/phone.log" 2>&1
            got=$(grep -o 'DTMF received digit=.' "$d/phone.log" | cut -d= -f2 | tr -d '\n') ;;
        baresip)
            bash "$REPO/tests/interop/baresip_conf.sh" "$d/bs" 127.0.0.1 $PH $CTRL "$((B + 460))-$((B + 469))" \
                bob manual "$REPO/prompts/support_menu.wav"
            timeout 30 baresip -f "$d/bs" -t 25 < /dev/null > "$d/phone.log" 2>&1 & local bs=$!
            sleep 1.5
            timeout 20 python3 "$REPO/tests/interop/baresip_ctl.py" $CTRL 1 "dial sip:2000@127.0.0.1:$SIP" \
                'sleep 10' 'hangup' 'sleep 1' > "$d/ctl.out" 2>&1
            kill $bs 2>/dev/null; wait $bs 2>/dev/null
            got=$(grep -o '"type":"CALL_DTMF_START"[^}]*"param":"."' "$d/ctl.out" | sed 's/.*"param":"\(.\)"/\1/' | tr -d '\n') ;;
    esac
    wait $a; kill $s 2>/dev/null; wait $s 2>/dev/null; kill $sb; wait $sb 2>/dev/null
    local transferred=no
    grep -q "manager pressed \*22: transferring" "$d/router.log" && transferred=yes
    if [ "$got" = "$want" ] && [ "$transferred" = "$transfer" ]; then
        echo "  ok   $pcap: $PHONE reported \"$got\", transferred: $transferred"
    else
        echo "  FAIL $pcap: $PHONE reported \"$got\" (want \"$want\"), transferred: $transferred (want $transfer); see $d"
        fail=1
    fi
}

head -c 16000 /dev/zero | tr '\0' '\377' > "$OUT/silence.ulaw"   # 2 s of μ-law silence for sipp
echo "caller: $PHONE; artifacts in $OUT"
one dtmf_101_star22.pcap "" yes
one dtmf_101_5.pcap "5" no
one dtmf_101_star5.pcap "*5" no
[ $fail = 0 ] && echo "PASS" || echo "FAIL"
exit $fail
