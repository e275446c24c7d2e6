"""Body-size limit, enforced before the body is parsed (a 100 MB JSON never reaches pydantic).

The body is read up to the limit before the app sees it; past the limit the client gets 413 and
the app is never called, so an oversized request cannot half-write anything.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from privguard.audit.context import client_network, request_scope


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    scope["privguard_rejected"] = True  # for the metrics' route label
                    await self._reject(send)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # Client went away: let the app see the disconnect as usual.
                replay: list[Message] = [message]
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                scope["privguard_rejected"] = True
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break

        async def replay_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await self.app(scope, replay_receive, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"request body exceeds {self.max_bytes} bytes",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RequestId:
    """Gives every request an id, echoed in ``X-Request-ID`` and written into each access-log
    entry the request causes, so a consumer's complaint about one access can be traced to one
    request in the server logs. Binds the caller's network too (audit/context.py): the
    connection's peer as the server saw it: uvicorn takes a proxy's ``X-Forwarded-For`` only
    from the addresses in ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1), so set it to the load
    balancers' addresses, or every request counts as coming from the balancer's network."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
                break
        client = scope.get("client")
        network = client_network(client[0] if client else None)
        with request_scope(offered, network=network) as rid:
            header = (b"x-request-id", rid.encode())

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), header]}
                await send(message)

            await self.app(scope, receive, send_with_id)
