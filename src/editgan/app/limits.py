"""Request body size limit as ASGI middleware: a declared Content-Length over the limit is refused
before anything is read, and a body without one (chunked) is counted while it streams in and cut
off at the first byte past the limit; both answer 413 with a one-line JSON detail."""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Raised into the application's `receive` once the body passes the limit."""


class BodyLimit:
    """Refuse request bodies over `limit` bytes; the message says `shown` bytes are accepted (the
    upload limit, without the room left for multipart framing)."""

    def __init__(self, app, limit: int, shown: int):
        self.app, self.limit, self.shown = app, limit, shown

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await self.refuse(send, f"the request body is {int(declared)} bytes; at most {self.shown} "
                                           "are accepted")
        received, refused, started = 0, False, False

        async def counted():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    raise BodyTooLarge
            return message

        async def unless_refused(message):
            nonlocal started
            if not refused:  # once refused, the application's own answer (e.g. a 400) is dropped
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counted, unless_refused)
        except BodyTooLarge:
            pass
        if refused and not started:
            await self.refuse(send, f"the request body is larger than the {self.shown} bytes accepted")

    @staticmethod
    async def refuse(send, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
