"""The shop served on loopback: Werkzeug's threaded server (Flask's own) on 127.0.0.1 and a free
port, in a thread of the process that starts it; several sessions (one per environment) at once.
It never listens beyond 127.0.0.1."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from vldac.envs.webshop.catalogue import Catalogue
from vldac.envs.webshop.search import SearchIndex
from vldac.envs.webshop.site import create_app

HOST = "127.0.0.1"


class QuietRequests(WSGIRequestHandler):
    """Werkzeug's request handler without its line per request on stderr."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class ShopServer:
    """``start()`` serves the shop and returns its base URL; ``stop()`` ends it."""

    def __init__(self, catalogue: Catalogue, index: SearchIndex):
        self.app = create_app(catalogue, index)
        self.server = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("The WebShop server is not running; start() it first.")
        return f"http://{HOST}:{self.server.server_port}"

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> str:
        if self.server is None:
            self.server = make_server(HOST, 0, self.app, threaded=True, request_handler=QuietRequests)
            self.thread = threading.Thread(target=self.server.serve_forever, name="webshop-server", daemon=True)
            self.thread.start()
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = self.thread = None

    def __enter__(self) -> ShopServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
