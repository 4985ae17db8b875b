#!/usr/bin/env python3
"""Registers once with digest auth through PJSUA2 (PyPI `pjsua2-python`), then
unregisters and exits: 0 when the registration got 200, 1 otherwise.

  pjsua2_register.py --registrar sip:127.0.0.1:5060 --user 102 --password PW \
                     [--algorithm MD5|SHA-256] [--port 25100] [--timeout 15] \
                     [--refresh]

--algorithm sets the credential's algorithm (AuthCredInfo.algoType): PJSIP then answers
only a challenge of that algorithm. Without it PJSIP answers the topmost challenge it
supports (RFC 8760 §2.4). --refresh registers for 60 s and waits for the refresh
(PJSIP re-registers 5 s before expiry) to be answered 200 as well. PJSIP's message log (level 4) goes to stdout, so the
Authorization header shows which algorithm was used. Binds 127.0.0.1 only. Used by
tests/interop/digest_register.sh."""
import argparse
import sys
import time

import pjsua2 as pj

ap = argparse.ArgumentParser()
ap.add_argument('--registrar', required=True)
ap.add_argument('--user', required=True)
ap.add_argument('--password', required=True)
ap.add_argument('--algorithm', choices=['MD5', 'SHA-256'])
ap.add_argument('--port', type=int, default=25100)
ap.add_argument('--timeout', type=float, default=15.0)
ap.add_argument('--refresh', action='store_true')
a = ap.parse_args()

state = {'code': None, 'ok': 0}


class Account(pj.Account):
    def onRegState(self, prm):
        print('REG', prm.code, prm.reason, flush=True)
        if state['code'] is None or prm.code == 200:
            state['code'] = prm.code
        if prm.code == 200:
            state['ok'] += 1


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = 4
cfg.logConfig.consoleLevel = 4
cfg.logConfig.msgLogging = True
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = a.port
tc.boundAddress = '127.0.0.1'
tc.publicAddress = '127.0.0.1'
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()

host = a.registrar.split(':', 1)[1]
acfg = pj.AccountConfig()
acfg.idUri = 'sip:%s@%s' % (a.user, host)
acfg.regConfig.registrarUri = a.registrar
acfg.regConfig.timeoutSec = 60 if a.refresh else 300
cred = pj.AuthCredInfo('digest', '*', a.user, 0, a.password)
if a.algorithm == 'SHA-256':
    cred.algoType = pj.PJSIP_AUTH_ALGORITHM_SHA256
elif a.algorithm == 'MD5':
    cred.algoType = pj.PJSIP_AUTH_ALGORITHM_MD5
acfg.sipConfig.authCreds.append(cred)
acc = Account()
acc.create(acfg)

t0 = time.monotonic()
want = 2 if a.refresh else 1
while time.monotonic() - t0 < a.timeout and state['ok'] < want:
    ep.libHandleEvents(20)
ok = state['ok'] >= want
if ok:
    acc.setRegistration(False)
    for _ in range(50):
        ep.libHandleEvents(20)
ep.libDestroy()
print('RESULT', 'ok' if ok else 'fail', flush=True)
sys.exit(0 if ok else 1)
