#!/bin/bash
# Interop check (issue 4): a real softphone registers with Switchboard as a manager
# using digest auth, a sipp caller dials a number routed to that manager's department,
# the softphone auto-answers, and what it hears is recorded and compared with the
# audio the caller sent. See docs/interop.md.
#
# usage: tests/interop/softphone_bridge.sh [OUTDIR]
#   env: PHONE             baresip (default) or pjsua2
#        PJ_PYTHON         a python with pjsua2 (default /tmp/pjvenv/bin/python;
#                          python3 -m venv /tmp/pjvenv && /tmp/pjvenv/bin/pip install pjsua2-python)
#        DIGEST_ALGORITHMS TOML list for [server] digest_algorithms. Default for pjsua2:
#                          unset (the router's default, SHA-256 then MD5). Default for
#                          baresip: '["MD5"]', because baresip 1.0.0 (libre 1.1.0) gives
#                          up with "Function not implemented" when any challenge is
#                          not MD5; DIGEST_ALGORITHMS=default shows that.
#        SWITCHBOARD_BIN   router binary (default: target/debug/switchboard)
#        CALL_MS           how long the caller stays in the call (default 8000)
#        CAPTURE           1 (default): if tshark is installed, capture the RTP relayed to
#                          the phone and check it too; 0: don't
# needs: sip-tester sox python3, and baresip-core or pjsua2-python (tshark: optional)
#        (apt-get install -y --no-install-recommends baresip-core sip-tester sox)
# Everything runs on 127.0.0.1; nothing is sent anywhere else. Not part of CI.
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SWITCHBOARD_BIN:-$REPO/target/debug/switchboard}
CALL_MS=${CALL_MS:-8000}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/sb-interop.XXXXXX")}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "${OUT:?}"/*

EXT=102
PASS="interop-pw-$RANDOM$RANDOM"
NUMBER=2000

PHONE=${PHONE:-baresip}
PJ_PYTHON=${PJ_PYTHON:-/tmp/pjvenv/bin/python}
case "$PHONE" in
    baresip) DIGEST_ALGORITHMS=${DIGEST_ALGORITHMS-'["MD5"]'}; NEED="baresip" ;;
    pjsua2) DIGEST_ALGORITHMS=${DIGEST_ALGORITHMS-default}; NEED="" ;;
    *) echo "FAIL: PHONE must be baresip or pjsua2"; exit 2 ;;
esac
[ "$DIGEST_ALGORITHMS" = default ] && DIGEST_ALGORITHMS=""
for tool in $NEED sipp sox soxi python3 ss; do
    command -v "$tool" > /dev/null || {
        echo "FAIL: $tool not found (apt-get install -y --no-install-recommends baresip-core sip-tester sox)"
        exit 2
    }
done
if [ "$PHONE" = pjsua2 ]; then
    "$PJ_PYTHON" -c 'import pjsua2' 2> /dev/null || {
        echo "FAIL: $PJ_PYTHON cannot import pjsua2 (python3 -m venv /tmp/pjvenv && /tmp/pjvenv/bin/pip install pjsua2-python)"
        exit 2
    }
fi
[ -x "$BIN" ] || { echo "FAIL: $BIN not built (cargo build)"; exit 2; }

# --- ports: a random block whose ports are all free on loopback --------------------
port_free() { ! ss -Hltun "( sport = :$1 )" | grep -q .; }
pick_ports() {
    local try base p
    for try in $(seq 1 50); do
        base=$((20000 + (RANDOM % 400) * 100))
        for p in $(seq "$base" $((base + 99))); do
            port_free "$p" || continue 2
        done
        echo "$base"
        return 0
    done
    return 1
}
BASE=$(pick_ports) || { echo "FAIL: no free port block"; exit 2; }
SB_SIP=$BASE                                  # router SIP (UDP+TCP)
SB_HTTP=$((BASE + 1))                         # router HTTP
BS_SIP=$((BASE + 2))                          # softphone SIP
BS_CTRL=$((BASE + 6))                        # baresip ctrl_tcp (unused; baresip also takes BS_SIP+1 for TLS)
SIPP_SIP=$((BASE + 4))                        # sipp caller SIP
SIPP_MEDIA=$((BASE + 10))                     # sipp caller RTP (+ RTCP)
BS_RTP="$((BASE + 20))-$((BASE + 39))"        # softphone RTP range (pjsua2: from BASE+20)
SB_RTP="$((BASE + 50))-$((BASE + 99))"        # router RTP range

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
}
trap cleanup EXIT

# --- audio ---------------------------------------------------------------------------
# Caller: main_menu as headerless μ-law for sipp's rtp_stream (PT 0), plus the same
# decoded back to 16-bit linear to compare the recording with.
sox "$REPO/prompts/main_menu.wav" -t raw -r 8000 -c 1 -e mu-law "$OUT/caller.ulaw"
sox -t raw -r 8000 -c 1 -e mu-law "$OUT/caller.ulaw" -t raw -b 16 -e signed-integer \
    -L "$OUT/caller.s16"
# Softphone: sends support_menu (so the caller's direction is not an echo of itself).
sox "$REPO/prompts/support_menu.wav" -r 8000 -c 1 -b 16 -e signed-integer "$OUT/phone.wav" \
    pad 0 30

# --- router ----------------------------------------------------------------------------
ALGS=""
[ -n "${DIGEST_ALGORITHMS:-}" ] && ALGS="digest_algorithms = $DIGEST_ALGORITHMS"
cat > "$OUT/switchboard.toml" << EOF
[server]
sip_listen = "127.0.0.1:$SB_SIP"
http_listen = "127.0.0.1:$SB_HTTP"
rtp_ports = "$SB_RTP"
prompts_dir = "$REPO/prompts"
data_dir = "$OUT/data"
realm = "switchboard"
$ALGS

[[numbers]]
number = "$NUMBER"
source = "interop"
action = "department:sales"

[departments.sales]
members = ["elena"]
ring_timeout_secs = 20

[managers.elena]
extension = "$EXT"
password = "$PASS"
name = "Elena Rossi"
EOF
SWITCHBOARD_LOG=debug NO_COLOR=1 "$BIN" run --config "$OUT/switchboard.toml" \
    > "$OUT/router.log" 2>&1 &
PIDS+=($!)

wait_for() { # FILE PATTERN SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        grep -q -E "$2" "$1" 2> /dev/null && return 0
        sleep 0.2
    done
    return 1
}
wait_for "$OUT/router.log" "Switchboard ready" 15 || {
    echo "FAIL: router did not start"; tail -20 "$OUT/router.log"; exit 1
}

# --- softphone, registered as extension $EXT, auto-answer ------------------------------
PHONE_LIMIT=$(((CALL_MS + 30000) / 1000))
if [ "$PHONE" = baresip ]; then
# sndfile dumps the decoded received audio to $OUT/bs/dump-*-dec.wav (and what it
# sent to -enc.wav); playback goes to ALSA's null device.
BS=$OUT/bs
mkdir -p "$BS"
cat > "$BS/config" << EOF
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$BS_SIP
call_local_timeout	120
call_max_calls		4
audio_player		alsa,null
audio_alert		alsa,null
audio_source		aufile,$OUT/phone.wav
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
rtp_ports		$BS_RTP
rtcp_mux		no
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			alsa.so
module			sndfile.so
snd_path		$BS
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$BS_CTRL
EOF
echo "<sip:$EXT@127.0.0.1:$SB_SIP>;auth_user=$EXT;auth_pass=$PASS;regint=600;answermode=auto;audio_codecs=PCMU;ptime=20" \
    > "$BS/accounts"
: > "$BS/contacts"
baresip -s -f "$BS" -t "$PHONE_LIMIT" < /dev/null > "$OUT/phone.log" 2>&1 &
else
# pjsua2: the received audio goes through PJMEDIA's conference bridge into a WAV file.
"$PJ_PYTHON" "$REPO/tests/interop/pjsua2_phone.py" --registrar "sip:127.0.0.1:$SB_SIP" \
    --user "$EXT" --password "$PASS" --port "$BS_SIP" --rtp-port "$((BASE + 20))" \
    --play "$OUT/phone.wav" --record "$OUT/heard.wav" --timeout "$PHONE_LIMIT" \
    < /dev/null > "$OUT/phone.log" 2>&1 &
fi
PHONE_PID=$!
PIDS+=($PHONE_PID)

wait_for "$OUT/router.log" "REGISTER answered 200" 15 || {
    echo "FAIL: the softphone never registered (no 'REGISTER answered 200')"
    grep -E "REGISTER answered|digest|password|unknown user" "$OUT/router.log" | tail
    grep -i -E "register|401|403|auth|REG " "$OUT/phone.log" | tail -20
    grep -q "Register: Function not implemented" "$OUT/phone.log" &&
        echo "(baresip 1.0.0's libre only knows MD5 digest and gives up when any challenge is not MD5: run with DIGEST_ALGORITHMS='[\"MD5\"]')"
    exit 1
}
sleep 0.5

# --- optional capture of the RTP the router relays to the phone (tshark) --------------
# Tells a relay fault (lost, late or altered packets) from the phone's own playout.
CAP_PID=""
if [ "${CAPTURE:-1}" = 1 ] && command -v tshark > /dev/null; then
    tshark -i lo -f "udp and dst portrange $((BASE + 20))-$((BASE + 39))" -w "$OUT/to_phone.pcapng" \
        > /dev/null 2> "$OUT/tshark.log" &
    CAP_PID=$!
    PIDS+=($CAP_PID)
    wait_for "$OUT/tshark.log" "Capturing on" 20 || echo "(tshark did not start capturing)"
fi

# --- caller ------------------------------------------------------------------------------
printf 'SEQUENTIAL\n5551234;1\n' > "$OUT/callers.csv"
timeout $((CALL_MS / 1000 + 30)) sipp "127.0.0.1:$SB_SIP" -sf "$REPO/tests/sipp/uac_listen_rtp.xml" \
    -t u1 -i 127.0.0.1 -p "$SIPP_SIP" -mi 127.0.0.1 -mp "$SIPP_MEDIA" \
    -s "$NUMBER" -m 1 -nostdin -timeout $((CALL_MS / 1000 + 25))s -inf "$OUT/callers.csv" \
    -d "$CALL_MS" -key caller_audio "$OUT/caller.ulaw,-1,0" \
    -trace_err -error_file "$OUT/sipp_err.log" > "$OUT/sipp.out" 2>&1
SIPP_RC=$?
sleep 1.5 # the BYE reaches the phone, it closes its recording
if [ "$PHONE" = baresip ]; then
    kill -INT "$PHONE_PID" 2> /dev/null
else
    for _ in $(seq 1 50); do kill -0 "$PHONE_PID" 2> /dev/null || break; sleep 0.2; done
    kill -INT "$PHONE_PID" 2> /dev/null
fi
wait "$PHONE_PID" 2> /dev/null
kill -TERM "${PIDS[0]}" 2> /dev/null
wait "${PIDS[0]}" 2> /dev/null
if [ -n "$CAP_PID" ]; then
    kill -INT "$CAP_PID" 2> /dev/null
    wait "$CAP_PID" 2> /dev/null
fi
PIDS=()

# --- checks ------------------------------------------------------------------------------
FAILS=0
check() { # OK? LABEL DETAIL
    if [ "$1" = 1 ]; then echo "  ok   $2: $3"; else echo "  FAIL $2: $3"; FAILS=$((FAILS + 1)); fi
}
if [ "$PHONE" = baresip ]; then
    VERSION=$(baresip -h 2>&1 | head -1 | sed 's/ Copyright.*//')
    VERSION="$VERSION (libre $(dpkg-query -W -f '${Version}' libre0 2> /dev/null || echo ?))"
else
    VERSION="pjsua2-python, PJSIP $("$PJ_PYTHON" -c 'import pjsua2 as pj; e = pj.Endpoint(); e.libCreate(); print("VERSION", e.libVersion().full); e.libDestroy()' 2> /dev/null | awk '/^VERSION/ {print $2}')"
fi
echo "softphone: $VERSION; digest_algorithms: ${DIGEST_ALGORITHMS:-router default}; artifacts in $OUT"

REG_AUTH=$(grep -m1 -i -E '^Authorization:.*Digest' "$OUT/phone.log")
ALG=$(printf '%s' "$REG_AUTH" | grep -o -i -E 'algorithm="?[A-Za-z0-9-]+' | sed 's/.*=//; s/"//')
[ -n "$REG_AUTH" ] && [ -z "$ALG" ] && ALG="MD5 (no algorithm parameter: the RFC 2617 default)"
REG200=$(grep -c "REGISTER answered 200" "$OUT/router.log")
check "$([ -n "$REG_AUTH" ] && [ "$REG200" -ge 1 ] && echo 1)" "registration" \
    "REGISTER with digest auth answered 200 (${REG200}x: signing in, and out at exit), algorithm ${ALG:-?}"

INV=$(grep -c -E '^INVITE sip:' "$OUT/phone.log")
ANSWERED=$(grep -m1 -o -E 'call: answering call.*|INCOMING.*' "$OUT/phone.log")
check "$([ "$INV" -ge 1 ] && echo 1)" "softphone got INVITE" \
    "$INV INVITE(s) received by $PHONE; ${ANSWERED:-it never answered}"

# "answered after" also logs the caller's own answer (the router answers at once and
# plays "connecting"); the bridge is the manager's line.
ANS=$(grep -m1 -o -E 'elena answered after.*' "$OUT/router.log")
check "$([ -n "$ANS" ] && echo 1)" "bridged" "router: ${ANS:-no 'elena answered after' line}"

check "$([ "$SIPP_RC" = 0 ] && echo 1)" "caller" "sipp exit $SIPP_RC ($(grep -o -E 'Successful call +\| +[0-9]+ +\| +[0-9]+' "$OUT/sipp.out" | tail -1 | tr -s ' '))"

if [ "$PHONE" = baresip ]; then
    REC=$(ls "$OUT"/bs/dump-*dec*.wav 2> /dev/null | head -1)
    [ -n "$REC" ] && cp "$REC" "$OUT/heard.wav"
else
    REC=$OUT/heard.wav
fi
if [ ! -s "$OUT/heard.wav" ]; then
    check 0 "recording" "no recording of the received audio ($PHONE)"
else
    DUR=$(soxi -D "$OUT/heard.wav")
    RMS=$(sox "$OUT/heard.wav" -n stats 2>&1 | awk '/RMS lev dB/ {print $4}')
    SRC_RMS=$(sox "$REPO/prompts/main_menu.wav" -n stats 2>&1 | awk '/RMS lev dB/ {print $4}')
    check "$(python3 -c "print(1 if $DUR > 2 and $RMS > -40 else 0)")" "recording" \
        "$(basename "$REC"): ${DUR}s, RMS ${RMS} dBFS (caller's source: ${SRC_RMS} dBFS; silence < -60)"
    # Compare with the source. Both legs are PCMU and the relay forwards payloads
    # untouched, so the recording should be the caller's μ-law audio decoded sample by
    # sample, at one constant offset (one offset = no frame lost, repeated or
    # reordered). Tolerance 2: baresip's G.711 table decodes code 0xFF (zero) as 2
    # where sox decodes it as 0; every other code decodes identically.
    MATCH=$(python3 - "$OUT/heard.wav" "$OUT/caller.s16" << 'PY2'
import collections, struct, sys, wave
w = wave.open(sys.argv[1])
assert w.getsampwidth() == 2 and w.getnchannels() == 1, "expected 16-bit mono"
rec = w.readframes(w.getnframes())
src = open(sys.argv[2], 'rb').read()
n, L = len(rec) // 2, len(src) // 2
r = struct.unpack('<%dh' % n, rec)
s = struct.unpack('<%dh' % L, src)
src2 = src + src  # rtp_stream loops the file
B = 160           # 20 ms
blocks = [p for p in range(0, n - B + 1, B) if max(abs(x) for x in r[p:p + B]) >= 500]
# Offsets (recording position - source position, modulo the loop) of exactly
# matching blocks; then every loud block is tested at those offsets with tolerance.
offs = collections.Counter()
for p in blocks:
    i = src2.find(rec[2 * p:2 * p + 2 * B])
    if i >= 0 and i % 2 == 0:
        offs[(p - i // 2) % L] += 1
cands = [o for o, _ in offs.most_common(20)]
used = collections.Counter()
ok = 0
for p in blocks:
    for o in cands:
        if all(abs(r[p + k] - s[(p + k - o) % L]) <= 2 for k in range(B)):
            ok += 1
            used[o] += 1
            break
pct = 100.0 * ok / len(blocks) if blocks else 0.0
print(ok, len(blocks), '%.1f' % pct, len(used), w.getframerate())
PY2
)
    read -r FOUND LOUD PCT NOFFS RATE <<< "$MATCH"
    check "$(python3 -c "print(1 if ${LOUD:-0} >= 50 and ${PCT:-0} >= 95 else 0)")" "same audio" \
        "${FOUND:-?} of ${LOUD:-?} non-silent 20 ms blocks (${PCT:-?}%) equal the caller's audio (±2 LSB), at ${NOFFS:-?} distinct offset(s); recording at ${RATE:-?} Hz"
fi

if [ -s "$OUT/to_phone.pcapng" ]; then
    # RTP (PCMU) towards the phone, as the router sent it: sequence gaps, pacing, and
    # whether each payload is a piece of the caller's μ-law file (the relay must not
    # alter G.711 when both legs use the same codec).
    tshark -r "$OUT/to_phone.pcapng" -o rtp.heuristic_rtp:TRUE -Y "rtp.p_type == 0" -T fields \
        -e frame.time_relative -e rtp.seq -e rtp.ssrc -e rtp.payload > "$OUT/to_phone.txt" 2> /dev/null
    RTPSTAT=$(python3 - "$OUT/to_phone.txt" "$OUT/caller.ulaw" << 'PY2'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
src = open(sys.argv[2], 'rb').read()
src2 = src + src
t = [float(r[0]) for r in rows]
seq = [int(r[1]) for r in rows]
ssrcs = {r[2] for r in rows}
pl = [bytes.fromhex(r[3].replace(':', '')) for r in rows]
gaps = sum(1 for a, b in zip(seq, seq[1:]) if (b - a) % 65536 != 1)
maxgap = max((b - a for a, b in zip(t, t[1:])), default=0) * 1000
same = sum(1 for p in pl if src2.find(p) >= 0)
# Continuity: each payload is the 160 bytes after the previous one in the (looped)
# file; near-silent payloads are skipped since they occur in many places.
pos = [src2.find(p) % len(src) if len(set(p)) > 2 and src2.find(p) >= 0 else None for p in pl]
breaks = sum(1 for a, b in zip(pos, pos[1:])
             if a is not None and b is not None and (b - a) % len(src) != 160)
ok = len(rows) > 100 and gaps == 0 and same == len(rows) and len(ssrcs) == 1 and breaks == 0
print(1 if ok else 0, len(rows), gaps, '%.0f' % maxgap, same, len(ssrcs), breaks)
PY2
)
    read -r RTP_OK NPKT NGAPS MAXGAP NSAME NSSRC NBREAKS <<< "$RTPSTAT"
    check "${RTP_OK:-0}" "relayed RTP" \
        "${NPKT:-?} PCMU packets to the phone, ${NSAME:-?} byte-identical pieces of the caller's audio (${NBREAKS:-?} out of order/skipped), ${NGAPS:-?} sequence gaps, ${NSSRC:-?} SSRC, largest inter-packet gap ${MAXGAP:-?} ms"
fi

if [ "$FAILS" = 0 ]; then
    echo "PASS: $PHONE registered as $EXT (digest ${ALG:-?}), was rung, answered, and heard the caller"
    exit 0
fi
echo "FAIL: $FAILS check(s) failed; see $OUT (router.log, phone.log, sipp.out)"
exit 1
