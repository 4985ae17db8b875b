#!/usr/bin/env python3
"""A caller's softphone on PJSUA2 (PyPI wheel `pjsua2-python`, null sound device):
calls URI, optionally sends DTMF once media is up, reports every DTMF it receives,
hangs up after --hold seconds (or when the far end does).

  pjsua2_caller.py sip:1000@127.0.0.1:5060 [--bind 127.0.0.1] [--port 25100]
                   [--rtp-port 27300] [--dtmf 21] [--dtmf-method rfc2833|info]
                   [--dtmf-delay 1.5] [--hold 10] [--timeout 30] [--loglevel 1]

Prints one line per event (CALL, MEDIA, `DTMF received digit=X`, `DTMF sent`) and
exits 0 when the call was confirmed and then ended, 1 otherwise. Binds --bind only.
Used by tests/interop/feature_code_holdback.sh and via_proxy.sh (PHONE=pjsua2)."""
import argparse
import sys
import time

import pjsua2 as pj

ap = argparse.ArgumentParser()
ap.add_argument('uri')
ap.add_argument('--bind', default='127.0.0.1')
ap.add_argument('--port', type=int, default=25100)
ap.add_argument('--rtp-port', type=int, default=27300)
ap.add_argument('--dtmf', default='')
ap.add_argument('--dtmf-method', choices=['rfc2833', 'info'], default='rfc2833')
ap.add_argument('--dtmf-delay', type=float, default=1.5)
ap.add_argument('--hold', type=float, default=10.0)
ap.add_argument('--timeout', type=float, default=30.0)
ap.add_argument('--loglevel', type=int, default=1)
a = ap.parse_args()

state = {'confirmed': False, 'disconnected': False, 'media_t': None}


def log(*x):
    print('%.3f' % time.monotonic(), *x, flush=True)


class Call(pj.Call):
    def onCallState(self, prm):
        ci = self.getInfo()
        log('CALL', ci.stateText, ci.lastStatusCode)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            state['confirmed'] = True
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            state['disconnected'] = True

    def onCallMediaState(self, prm):
        ci = self.getInfo()  # keep it alive while iterating its media (SWIG)
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if state['media_t'] is None:
                    state['media_t'] = time.monotonic()
                    log('MEDIA active')

    def onDtmfDigit(self, prm):
        log('DTMF received digit=%s' % prm.digit)


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = a.loglevel
cfg.logConfig.consoleLevel = a.loglevel
cfg.medConfig.clockRate = 8000
cfg.medConfig.sndClockRate = 8000
cfg.medConfig.noVad = True
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = a.port
tc.boundAddress = a.bind
tc.publicAddress = a.bind
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()
for ci_ in ep.codecEnum2():
    ep.codecSetPriority(ci_.codecId, 0)
ep.codecSetPriority('PCMU/8000', 255)
ep.codecSetPriority('PCMA/8000', 254)

acfg = pj.AccountConfig()
acfg.idUri = 'sip:pj@%s:%d' % (a.bind, a.port)
acfg.mediaConfig.transportConfig.port = a.rtp_port
acfg.mediaConfig.transportConfig.boundAddress = a.bind
acfg.mediaConfig.transportConfig.publicAddress = a.bind
acc = pj.Account()
acc.create(acfg)

call = Call(acc)
call.makeCall(a.uri, pj.CallOpParam(True))
t0 = time.monotonic()
sent = hung = False
while time.monotonic() - t0 < a.timeout and not state['disconnected']:
    ep.libHandleEvents(20)
    mt = state['media_t']
    if mt and a.dtmf and not sent and time.monotonic() - mt > a.dtmf_delay:
        p = pj.CallSendDtmfParam()
        p.digits = a.dtmf
        p.duration = 160
        p.method = (pj.PJSUA_DTMF_METHOD_RFC2833 if a.dtmf_method == 'rfc2833'
                    else pj.PJSUA_DTMF_METHOD_SIP_INFO)
        call.sendDtmf(p)
        log('DTMF sent', a.dtmf, a.dtmf_method)
        sent = True
    if mt and not hung and time.monotonic() - mt > a.hold:
        log('HANGUP')
        call.hangup(pj.CallOpParam(True))
        hung = True
for _ in range(25):
    ep.libHandleEvents(20)
ok = state['confirmed'] and state['disconnected']
call = None  # every Call must be gone before libDestroy
ep.libDestroy()
log('RESULT', 'ok' if ok else 'fail')
sys.exit(0 if ok else 1)
