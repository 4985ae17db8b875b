#!/usr/bin/env python3
"""A manager's softphone on PJSUA2 (PyPI wheel `pjsua2-python`, null sound device):
registers with digest auth, auto-answers every call, records what it hears.

  pjsua2_phone.py --registrar sip:127.0.0.1:5060 --user 102 --password PW \
                  [--port 25100] [--rtp-port 27300] [--play in.wav] [--record out.wav] \
                  [--timeout 40] [--loglevel 4]

Prints one line per event (REG, INCOMING, CALL, MEDIA) and exits 0 once a call was
confirmed and then ended, 1 otherwise (bounded by --timeout). With --loglevel 4 PJSIP
also prints every SIP message it sends and receives. Only PCMU/PCMA are enabled.
Binds 127.0.0.1 only. Used by tests/interop/softphone_bridge.sh (PHONE=pjsua2)."""
import argparse
import sys
import time

import pjsua2 as pj

ap = argparse.ArgumentParser()
ap.add_argument('--registrar', required=True, help='e.g. sip:127.0.0.1:5060')
ap.add_argument('--user', required=True)
ap.add_argument('--password', required=True)
ap.add_argument('--realm', default='*', help='"*" answers any realm')
ap.add_argument('--port', type=int, default=25100)
ap.add_argument('--rtp-port', type=int, default=27300)
ap.add_argument('--play', help='WAV to send into the call (looped)')
ap.add_argument('--record', help='WAV file for received audio')
ap.add_argument('--timeout', type=float, default=40.0)
ap.add_argument('--loglevel', type=int, default=4)
a = ap.parse_args()

state = {'confirmed': False, 'disconnected': False, 'registered': False, 'calls': []}


def log(*x):
    print('%.3f' % time.monotonic(), *x, flush=True)


class Call(pj.Call):
    def __init__(self, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.player = self.recorder = None

    def onCallState(self, prm):
        ci = self.getInfo()
        log('CALL', ci.stateText, ci.lastStatusCode, ci.remoteUri)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            state['confirmed'] = True
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            state['disconnected'] = True

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(mi.index)
                si = self.getStreamInfo(mi.index)
                log('MEDIA active codec=%s/%d remote=%s' % (si.codecName, si.codecClockRate,
                                                            si.remoteRtpAddress))
                if a.play and not self.player:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(a.play)  # loops by default
                    self.player.startTransmit(am)
                if a.record and not self.recorder:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(a.record)
                    am.startTransmit(self.recorder)


class Account(pj.Account):
    def onRegState(self, prm):
        ai = self.getInfo()
        log('REG', prm.code, prm.reason, 'expires=%d' % ai.regExpiresSec)
        if prm.code == 200 and ai.regExpiresSec > 0:
            state['registered'] = True

    def onIncomingCall(self, prm):
        inc = Call(self, prm.callId)
        state['calls'].append(inc)
        log('INCOMING', inc.getInfo().remoteUri)
        op = pj.CallOpParam()
        op.statusCode = 200
        inc.answer(op)


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = a.loglevel
cfg.logConfig.consoleLevel = a.loglevel
cfg.logConfig.msgLogging = True
cfg.medConfig.clockRate = 8000
cfg.medConfig.sndClockRate = 8000
cfg.medConfig.noVad = True
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = a.port
tc.boundAddress = '127.0.0.1'
tc.publicAddress = '127.0.0.1'
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()
for ci_ in ep.codecEnum2():
    ep.codecSetPriority(ci_.codecId, 0)
ep.codecSetPriority('PCMU/8000', 255)
ep.codecSetPriority('PCMA/8000', 254)

host = a.registrar.split(':', 1)[1]  # "127.0.0.1:5060"
acfg = pj.AccountConfig()
acfg.idUri = 'sip:%s@%s' % (a.user, host)
acfg.regConfig.registrarUri = a.registrar
acfg.regConfig.timeoutSec = 600
cred = pj.AuthCredInfo('digest', a.realm, a.user, 0, a.password)
acfg.sipConfig.authCreds.append(cred)
acfg.mediaConfig.transportConfig.port = a.rtp_port
acfg.mediaConfig.transportConfig.boundAddress = '127.0.0.1'
acfg.mediaConfig.transportConfig.publicAddress = '127.0.0.1'
acc = Account()
acc.create(acfg)

t0 = time.monotonic()
while time.monotonic() - t0 < a.timeout:
    ep.libHandleEvents(20)
    if state['disconnected']:
        break

for _ in range(25):  # let BYE/200 and the recorder finish
    ep.libHandleEvents(20)
ok = state['registered'] and state['confirmed'] and state['disconnected']
cc = None
for cc in state['calls']:
    cc.recorder = cc.player = None
del cc
state['calls'].clear()
ep.libDestroy()
log('RESULT', 'ok' if ok else 'fail')
sys.exit(0 if ok else 1)
