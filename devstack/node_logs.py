"""The slice of the kubelet API that `kubectl logs` uses, served by the node agent.

The API server proxies `GET /containerLogs/NS/POD/CONTAINER` to the node's kubelet port over TLS
with its kubelet client certificate; we serve the pod process's captured output from its folder.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from devstack.process import ManagedProcess

PATH = re.compile(r"^/containerLogs/([^/]+)/([^/]+)/([^/]+)$")


def pod_folder(pods: Path, namespace: str, name: str) -> Path | None:
    candidates = sorted(pods.glob(f"{namespace}_{name}_*"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def make_handler(pods: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet: the agent logs events
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            match = PATH.match(url.path)
            folder = pod_folder(pods, match[1], match[2]) if match else None
            if match is None or folder is None or not (folder / f"{match[3]}.log").exists():
                self.send_error(404, "no such container log on this node")
                return
            log = folder / f"{match[3]}.log"
            query = parse_qs(url.query)
            follow = query.get("follow", ["false"])[0] == "true"
            tail = int(query.get("tailLines", ["-1"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            data = log.read_bytes()
            if tail >= 0:
                data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail else b""
            self.wfile.write(data)
            offset = log.stat().st_size
            proc = ManagedProcess(match[3], folder)
            while follow and proc.running():
                time.sleep(0.5)
                with log.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    offset += len(chunk)

    return Handler


def serve(pods: Path, port: int, cert: Path, key: Path, client_ca: Path) -> ThreadingHTTPServer:
    """Start the HTTPS log server in a daemon thread; only clients with a cert from our CA."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(pods))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(cert), str(key))
    tls.load_verify_locations(str(client_ca))
    tls.verify_mode = ssl.CERT_REQUIRED
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="kubelet-logs", daemon=True).start()
    return server
