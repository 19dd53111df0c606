"""A real HTTP server on 127.0.0.1 that speaks OpenAI's `POST /v1/chat/completions`.

Tests script what it answers: a `Reply` per request (content, an HTTP error status, a delay
past the client's timeout, raw malformed bytes, or a connection dropped part way through the
body), either queued in order or computed from the request by a responder function. A reply
may carry the first token's top logprobs and the usage counts a server reports. Every request
body is kept in `requests`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass(frozen=True)
class Reply:
    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (a hang, when past the client timeout)
    raw: bytes | None = None  # sent as the body instead of a well-formed completion
    cut_at: int | None = None  # close the connection after this many bytes of the body (a dropped connection)
    top_logprobs: tuple[tuple[str, float], ...] | None = None  # (token, logprob) of the first token, most likely first
    usage: tuple[int, int] = (1, 1)  # (prompt_tokens, completion_tokens)


def _logprobs(top: tuple[tuple[str, float], ...] | None) -> dict | None:
    """The choice's `logprobs` as OpenAI shapes it: the first token (the most likely) with its top alternatives."""
    if top is None:
        return None
    entries = [{"token": token, "logprob": logprob, "bytes": list(token.encode())} for token, logprob in top]
    return {"content": [{**entries[0], "top_logprobs": entries}]}


class ChatServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.queue: deque[Reply] = deque()
        self.responder: Callable[[dict], Reply] = lambda request: Reply("ok")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                server.requests.append(body)
                reply = server.queue.popleft() if server.queue else server.responder(body)
                time.sleep(reply.delay)
                if reply.raw is not None:
                    return self._send(reply.status, reply.raw, reply.cut_at)
                if reply.status != 200:
                    return self._send(reply.status, {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}, reply.cut_at)
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop",
                                 "logprobs": _logprobs(reply.top_logprobs)}],
                    "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1], "total_tokens": sum(reply.usage)},
                }, reply.cut_at)

            def _send(self, status: int, payload: dict | bytes, cut_at: int | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))  # the full length, even when cut
                    self.end_headers()
                    self.wfile.write(data if cut_at is None else data[:cut_at])
                    if cut_at is not None:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the openai client (OPENAI_BASE_URL)."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def __enter__(self) -> "ChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
