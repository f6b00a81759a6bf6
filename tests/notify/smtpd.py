"""A real SMTP submission server for the notification e2e test (aiosmtpd).

STARTTLS is required before anything else (MAIL is refused in the clear) and so is AUTH,
which aiosmtpd only offers over TLS. Each message is written to OUT_DIR as <n>.eml; the
envelope (was TLS on, who logged in, sender, recipients) goes next to it as <n>.json.

Usage: smtpd.py PORT CERT KEY USER PASSWORD OUT_DIR. With CERT "-" the server offers neither
STARTTLS nor AUTH (a server a client must refuse). Prints "ready" once it listens and runs
until killed.
"""

import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main() -> None:
    port, cert, key, user, password, out = sys.argv[1:7]
    plain = cert == "-"
    ctx = None
    if not plain:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
    count = 0

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data)

    def login(session):
        data = session.auth_data
        return data.login.decode(errors="replace") if isinstance(data, LoginPassword) else ""

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            nonlocal count
            count += 1
            base = os.path.join(out, str(count))
            with open(base + ".json.tmp", "w") as f:
                json.dump(
                    {
                        "tls": session.ssl is not None,
                        "login": login(session),
                        "from": envelope.mail_from,
                        "to": envelope.rcpt_tos,
                    },
                    f,
                )
            with open(base + ".eml", "wb") as f:
                f.write(envelope.original_content)
            os.rename(base + ".json.tmp", base + ".json")
            return "250 Message accepted"

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=int(port),
        server_hostname="localhost",
        require_starttls=not plain,
        tls_context=ctx,
        authenticator=None if plain else authenticate,
        auth_required=not plain,
        auth_require_tls=not plain,
    )
    controller.start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
