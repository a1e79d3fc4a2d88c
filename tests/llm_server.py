"""A real local HTTP server speaking the OpenAI chat-completions protocol (``POST /v1/chat/completions``, plain
JSON and ``stream: true`` SSE), for the coach's optional language model. Its "model" is deterministic so tests
can state what it says: ``rephrase`` repeats the coach's notes after a short lead-in (every number kept),
``invent`` adds a number the notes do not have, ``slow`` answers after ``delay_s``, ``error`` answers 500,
``garbage`` answers 200 with a body that is not a chat completion. Every request body is kept in ``requests``."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LEAD_IN = "Short version from your coach:"
INVENTED = "You will find 7.77 s more next time."


@dataclass
class ModelServer:
    url: str
    mode: str = "rephrase"
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reply_for(self, body: dict[str, Any]) -> str:
        notes = body["messages"][-1]["content"].split("Coach's notes: ", 1)[-1]
        text = f"{LEAD_IN} {notes}"
        return f"{text} {INVENTED}" if self.mode == "invent" else text


def _handler(model: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                self.wfile.write(body)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model.requests.append(body)
            if self.path != "/v1/chat/completions":
                return self._send(404, b'{"error": "not found"}', "application/json")
            if model.mode == "slow":
                time.sleep(model.delay_s)
            if model.mode == "error":
                return self._send(500, b'{"error": "model crashed"}', "application/json")
            if model.mode == "garbage":
                return self._send(200, b"<html>not a completion</html>", "text/html")
            text = model.reply_for(body)
            if not body.get("stream"):
                answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
                return self._send(200, json.dumps(answer).encode(), "application/json")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in text.split(" "):
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return None

    return Handler


@contextmanager
def model_server(mode: str = "rephrase", *, delay_s: float = 0.0) -> Iterator[ModelServer]:
    """Serve on a free 127.0.0.1 port; yields the server (``url`` is the API base: ``…/v1``)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    model = ModelServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", mode=mode, delay_s=delay_s)
    httpd.RequestHandlerClass = _handler(model)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield model
    finally:
        httpd.shutdown()
        httpd.server_close()
