#!/usr/bin/env python3
"""A mail server for tests (tests/email.rs): aiosmtpd on 127.0.0.1, STARTTLS required
(RFC 3207) with the given certificate, AUTH required after it (any password for the
given user), every message parsed and written to OUTDIR as N.json plus its parts as
N.part-K files, so the Rust test reads what a mail client would see.

usage: smtp_sink.py PORT CERT KEY USER OUTDIR
Needs aiosmtpd: apt-get install python3-aiosmtpd, or pip install aiosmtpd (the .ci/run script does this).
"""
import email
import email.policy
import json
import os
import ssl
import sys
import logging
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd 1.4 logs a deprecation warning about its own Session.login_data on AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)

port, cert, key, user, out = sys.argv[1:6]
port = int(port)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
    return AuthResult(success=ok)


class Sink:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        n = self.n
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        parts = []
        for k, part in enumerate(msg.walk()):
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            path = os.path.join(out, f"{n}.part-{k}")
            with open(path, "wb") as f:
                f.write(payload)
            parts.append({
                "content_type": part.get_content_type(),
                "filename": part.get_filename(),
                "file": path,
            })
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "parts": parts,
        }
        tmp = os.path.join(out, f"{n}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(summary, f)
        os.rename(tmp, os.path.join(out, f"{n}.json"))
        return "250 OK"


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
controller = Controller(
    Sink(), hostname="127.0.0.1", port=port,
    tls_context=ctx, require_starttls=True,
    authenticator=authenticator, auth_required=True, auth_require_tls=True,
)
controller.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
