"""HTTP calls with a total deadline and a size cap.

httpx's timeouts are per socket operation: a server that trickles a byte every few seconds, or never
ends its body, keeps a call open for ever, and one that sends a 2 GiB body fills the memory.
``BoundedTransport`` gives every request a deadline from its start. A watchdog shuts the request's
socket down when the deadline passes, so a read blocked in the kernel returns at once; the body is
counted as it arrives (a Content-Length over the cap is refused before reading) and a streamed answer's
lines are capped too. Connections are not kept alive: each request owns the socket the watchdog closes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx

from gpuaccept.errors import SourceError

MIB = 1024 * 1024
JSON_MAX_BYTES = 16 * MIB  # a JSON answer (version, tags, ps, one generate object); real ones are KiB
LINE_MAX_BYTES = 16 * MIB  # one line of a streamed (NDJSON) answer


class TooSlow(httpx.TimeoutException, SourceError):
    """The answer was not complete within the call's total deadline."""


class TooLarge(httpx.TransportError, SourceError):
    """The answer is larger than the call's cap."""


class _Watch:
    """One request's deadline: the sockets it opened are shut down when it passes."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.deadline = time.monotonic() + total_s
        self.expired = False
        self.received = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(total_s, self.expire)
        self._timer.daemon = True  # never keeps the process alive
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember every socket this request connects (TLS wraps a new one)."""
        if not event.endswith(".complete") or "return_value" not in info:
            return
        if event.split(".")[1] not in ("connect_tcp", "connect_unix_socket", "start_tls"):
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            late = self.expired
        if late:
            _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def done(self) -> None:
        self._timer.cancel()

    def too_slow(self, request: httpx.Request) -> TooSlow:
        got = f"{self.received} bytes of its body arrived" if self.received else "nothing of its body arrived"
        return TooSlow(f"no complete answer within {self.total_s:g} s ({got}: the server sends too slowly "
                       f"or never ends its answer)", request=request)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its owner: nothing left to interrupt
        sock.shutdown(socket.SHUT_RDWR)


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, watch: _Watch, request: httpx.Request,
                 max_bytes: int | None) -> None:
        self.inner, self.watch, self.request, self.max_bytes = inner, watch, request, max_bytes

    def __iter__(self) -> Iterator[bytes]:
        line = 0
        try:
            for chunk in self.inner:
                self.watch.received += len(chunk)
                if self.max_bytes is not None and self.watch.received > self.max_bytes:
                    raise TooLarge(f"the answer is larger than {_size(self.max_bytes)}; not read further",
                                   request=self.request)
                newline = chunk.rfind(b"\n")
                line = line + len(chunk) if newline < 0 else len(chunk) - newline - 1
                if line > LINE_MAX_BYTES:
                    raise TooLarge(f"a line of the answer is longer than {_size(LINE_MAX_BYTES)}; not read further",
                                   request=self.request)
                if time.monotonic() > self.watch.deadline:
                    raise self.watch.too_slow(self.request)
                yield chunk
        except (httpx.TransportError, OSError) as err:
            if self.watch.expired and not isinstance(err, TooSlow):
                raise self.watch.too_slow(self.request) from err
            raise
        if self.watch.expired:  # a body without a length "ends" when the watchdog closes the socket
            raise self.watch.too_slow(self.request)

    def close(self) -> None:
        self.watch.done()
        self.inner.close()


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB"


class BoundedTransport(httpx.BaseTransport):
    """Each request must be complete within ``total_s`` and at most ``max_bytes`` (None: no total cap,
    for long progress streams; their lines stay capped)."""

    def __init__(self, url: str, total_s: float, max_bytes: int | None = JSON_MAX_BYTES) -> None:
        self.total_s, self.max_bytes = total_s, max_bytes
        # An explicit transport turns httpx's environment proxies off: honour them here, as before.
        self._inner = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0), proxy=_proxy_for(url))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        watch = _Watch(self.total_s)
        request.extensions = {**request.extensions, "trace": watch.trace}
        try:
            response = self._inner.handle_request(request)
        except (httpx.TransportError, OSError) as err:
            watch.done()
            if watch.expired:
                raise watch.too_slow(request) from err
            raise
        length = response.headers.get("content-length", "")
        if self.max_bytes is not None and length.isdigit() and int(length) > self.max_bytes:
            response.close()
            watch.done()
            raise TooLarge(f"the answer announces {int(length)} bytes, more than {_size(self.max_bytes)}; not read",
                           request=request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(response.status_code, headers=response.headers, extensions=response.extensions,
                              stream=_Body(response.stream, watch, request, self.max_bytes))

    def close(self) -> None:
        self._inner.close()


def _proxy_for(url: str) -> str | None:
    host = httpx.URL(url).host
    if not host or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(httpx.URL(url).scheme) or proxies.get("all")


def get_json(url: str, total_s: float, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """GET a JSON answer within ``total_s`` and ``max_bytes``; raises httpx errors and ValueError."""
    with httpx.Client(transport=BoundedTransport(url, total_s, max_bytes), timeout=total_s) as c:
        answer = c.get(url)
        answer.raise_for_status()
        return answer.json()
