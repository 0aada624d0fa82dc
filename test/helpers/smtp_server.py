"""A real SMTP server for the mail tests (Debian's python3-aiosmtpd).

Listens on 127.0.0.1:PORT. With --cert/--key it requires STARTTLS, or with --implicit-tls it
speaks TLS from the first byte (like port 465); without them it offers no TLS at all. With
--user/--password it requires AUTH LOGIN/PLAIN (only over TLS when TLS is on; in clear when it
is off, as a badly set-up server would). Refuses the --reject recipients with 550. --rules FILE
(JSON, re-read at every RCPT, so a test can change it while the server runs) adds
{"reject": [addr, ...]} answered 550 and {"tempfail": [addr, ...]} answered 451.
--log FILE gets one line per AUTH, RCPT and DATA: "AUTH tls=0|1", "RCPT addr code tls=0|1",
"DATA tls=0|1". Stores each accepted message's raw bytes as DIR/<n>.eml (written to a temporary
name, then renamed). Prints READY once it accepts connections and runs until stdin closes or it
gets SIGTERM.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, syntax

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--implicit-tls", action="store_true")
ap.add_argument("--user")
ap.add_argument("--password")
ap.add_argument("--reject", action="append", default=[])
ap.add_argument("--rules")
ap.add_argument("--log")
args = ap.parse_args()
os.makedirs(args.dir, exist_ok=True)
rejected = {r.lower() for r in args.reject}
counter = [0]


def rules():
    if not args.rules or not os.path.exists(args.rules):
        return {}
    with open(args.rules, encoding="utf-8") as f:
        return json.load(f)


def log(line):
    if args.log:
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def tls(server):
    return 1 if server.transport is not None and server.transport.get_extra_info("ssl_object") is not None else 0


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = rules()
        a = address.lower()
        if a in rejected or a in {x.lower() for x in r.get("reject", [])}:
            reply = "550 5.1.1 <%s>: Recipient address rejected: user unknown" % address
        elif a in {x.lower() for x in r.get("tempfail", [])}:
            reply = "451 4.3.0 <%s>: try later" % address
        else:
            envelope.rcpt_tos.append(address)
            reply = "250 OK"
        log("RCPT %s %s tls=%d" % (address, reply[:3], tls(server)))
        return reply

    async def handle_DATA(self, server, session, envelope):
        log("DATA tls=%d" % tls(server))
        counter[0] += 1
        name = "%d-%03d.eml" % (time.time_ns(), counter[0])
        tmp = os.path.join(args.dir, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(args.dir, name))
        return "250 2.0.0 Ok: queued as %s" % name


class LoggingSMTP(SMTP):
    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg):
        log("AUTH tls=%d" % tls(self))
        return await super().smtp_AUTH(arg)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == (args.user or "").encode()
          and auth_data.password == (args.password or "").encode())
    return AuthResult(success=ok, handled=False)


class LoggingController(Controller):
    def factory(self):
        return LoggingSMTP(self.handler, **self.SMTP_kwargs)


kw = {}
ctx = None
if args.cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.implicit_tls:
        kw.update(ssl_context=ctx)
    else:
        kw.update(tls_context=ctx, require_starttls=True)
if args.user:
    # Over implicit TLS aiosmtpd does not know the connection is encrypted (it only tracks
    # STARTTLS), so it must not insist on it there.
    kw.update(auth_required=True, auth_require_tls=bool(args.cert) and not args.implicit_tls, authenticator=authenticator)

controller = LoggingController(Handler(), hostname="127.0.0.1", port=args.port, decode_data=False, **kw)
controller.start()
print("READY", flush=True)

done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait()
controller.stop()
