"""A real SMTP server for the mail tests (Debian's python3-aiosmtpd).

Listens on 127.0.0.1:PORT; optionally requires STARTTLS (--cert/--key) and AUTH LOGIN/PLAIN
(--user/--password); refuses the --reject recipients with 550; stores each accepted message's
raw bytes as DIR/<n>.eml (written to a temporary name, then renamed). Prints READY once it
accepts connections and runs until stdin closes or it gets SIGTERM.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--user")
ap.add_argument("--password")
ap.add_argument("--reject", action="append", default=[])
args = ap.parse_args()
os.makedirs(args.dir, exist_ok=True)
rejected = {r.lower() for r in args.reject}
counter = [0]


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in rejected:
            return "550 5.1.1 <%s>: Recipient address rejected: user unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        counter[0] += 1
        name = "%d-%03d.eml" % (time.time_ns(), counter[0])
        tmp = os.path.join(args.dir, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(args.dir, name))
        return "250 2.0.0 Ok: queued as %s" % name


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == (args.user or "").encode()
          and auth_data.password == (args.password or "").encode())
    return AuthResult(success=ok, handled=False)


kw = {}
if args.cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    kw.update(tls_context=ctx, require_starttls=True)
if args.user:
    kw.update(auth_required=True, auth_require_tls=bool(args.cert), authenticator=authenticator)

controller = Controller(Handler(), hostname="127.0.0.1", port=args.port, decode_data=False, **kw)
controller.start()
print("READY", flush=True)

done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait()
controller.stop()
