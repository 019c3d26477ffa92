"""A ``http.server`` request handler served on 127.0.0.1 in a thread, for tests of real HTTP clients."""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Iterator, Type


@contextlib.contextmanager
def serving(handler: Type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port; yields the base URL (``http://127.0.0.1:PORT``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
