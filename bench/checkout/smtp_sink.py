"""A slow SMTP server for bench/checkout: accepts every message, answers DATA after a delay.

    python bench/checkout/smtp_sink.py --port 18425 --delay 2 --log messages.jsonl

Stands in for a mail provider that takes its time. Each message is appended to the log as
one JSON line: recipients, subject, when its DATA arrived and when the 250 went back
(Unix time, the same clock as the bench's client). Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SlowHandler:
    def __init__(self, delay: float, log: Path) -> None:
        self.delay = delay
        self.out = log.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = time.time()
        await asyncio.sleep(self.delay)
        headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
        record = {
            "rcpt": list(envelope.rcpt_tos),
            "subject": str(headers.get("Subject", "")),
            "received": received,
            "answered": time.time(),
        }
        with self.lock:
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before answering DATA")
    parser.add_argument("--log", required=True, help="JSON lines, one per message")
    args = parser.parse_args()

    handler = SlowHandler(args.delay, Path(args.log))
    controller = Controller(handler, hostname=args.host, port=args.port)
    controller.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"smtp sink on {args.host}:{args.port}, answering DATA after {args.delay} s", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
