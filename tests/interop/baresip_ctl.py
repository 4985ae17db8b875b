#!/usr/bin/env python3
"""(From ../shared/peers/baresip/ctl.py.) Send commands to baresip's ctrl_tcp module (netstring-framed JSON) and
print every event/response received for WAIT seconds.
  ctl.py PORT WAIT 'dial sip:ivr@127.0.0.1:25070' 'sleep 2' 'sndcode 1' ...
A 'sleep N' item pauses N seconds (while still printing events)."""
import json, socket, sys, time

port, wait = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(('127.0.0.1', port), timeout=5)
s.settimeout(0.1)
buf = b''

def pump(secs):
    global buf
    end = time.time() + secs
    while time.time() < end:
        try:
            d = s.recv(65536)
            if not d:
                return
            buf += d
        except socket.timeout:
            pass
        while b':' in buf:
            n, rest = buf.split(b':', 1)
            n = int(n)
            if len(rest) < n + 1:
                break
            msg, buf = rest[:n], rest[n + 1:]
            print('<<', msg.decode(errors='replace'), flush=True)

for i, item in enumerate(sys.argv[3:]):
    if item.startswith('sleep '):
        pump(float(item.split()[1]))
        continue
    cmd, _, params = item.partition(' ')
    j = json.dumps({'command': cmd, 'params': params, 'token': 't%d' % i}).encode()
    print('>>', j.decode(), flush=True)
    s.sendall(b'%d:%s,' % (len(j), j))
    pump(0.3)
pump(wait)
