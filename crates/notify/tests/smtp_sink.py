#!/usr/bin/env python3
"""A loopback SMTP sink for the notification tests and benchmark (Debian's python3-aiosmtpd).

Stores every accepted message as one file in DIR (written before the 250 answer, so a client
killed after the server took a message but before it heard the answer re-sends it), and answers
chosen recipients with a temporary (451) or permanent (550) refusal. Prints "PORT <n>" once it
listens on 127.0.0.1.
"""
import argparse
import asyncio
import os
import socket
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, args):
        self.dir = args.dir
        self.permfail = {a.lower() for a in args.permfail}
        self.tempfail = {a.lower() for a in args.tempfail}
        self.tempfail_times = args.tempfail_times
        self.temp_count = {}
        self.delay = args.delay
        self.count = 0
        # How many messages were being received at once, at most (written to DIR/.max-active):
        # shows that a sender used several connections concurrently.
        self.active = 0
        self.max_active = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.permfail:
            return "550 5.1.1 <%s>: mailbox unavailable" % a
        if a in self.tempfail:
            n = self.temp_count.get(a, 0)
            if self.tempfail_times < 0 or n < self.tempfail_times:
                self.temp_count[a] = n + 1
                return "451 4.3.0 <%s>: try again later" % a
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.active += 1
        try:
            return await self.store(envelope)
        finally:
            self.active -= 1

    async def store(self, envelope):
        if self.active > self.max_active:
            self.max_active = self.active
            with open(os.path.join(self.dir, ".max-active"), "w") as f:
                f.write(str(self.max_active))
        if self.delay:
            await asyncio.sleep(self.delay)
        self.count += 1
        name = "%d-%06d" % (time.time_ns(), self.count)
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(content)
        os.rename(tmp, os.path.join(self.dir, name + ".eml"))
        return "250 2.0.0 stored"


class QuickAckSMTP(SMTP):
    """Acknowledges every segment at once. A client that writes the message and its final
    "\r\n.\r\n" separately (lettre does) otherwise waits for Linux's 40 ms delayed ACK
    (Nagle's algorithm) on every message, which would dominate the benchmark on loopback."""

    def data_received(self, data):
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass
        super().data_received(data)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--permfail", action="append", default=[], help="answer 550 for this recipient")
    p.add_argument("--tempfail", action="append", default=[], help="answer 451 for this recipient")
    p.add_argument("--tempfail-times", type=int, default=1, help="how many times (-1: always)")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before answering DATA")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    handler = Sink(args)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: QuickAckSMTP(handler, hostname="sink.localhost", data_size_limit=64 * 1024 * 1024),
        "127.0.0.1",
        args.port,
    )
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
