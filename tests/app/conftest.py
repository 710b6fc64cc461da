"""A tiny preprocessed set for the app's tests: four 256 px micrographs, downsampled 2x."""

import contextlib
import dataclasses
import http.client
import json as jsonlib
import threading
import time
from pathlib import Path

import pytest

from cryopick.cli.main import main
from cryopick.io.coordinates import read_picks


@pytest.fixture(scope="session")
def app_data(tmp_path_factory: pytest.TempPathFactory, dataset_writer) -> Path:
    """raw/ micrographs (2 A/px, 40 A particles), their true centres (train.txt, test.txt) and work/,
    preprocessed at 2x so that working and original pixels differ."""
    root = dataset_writer(tmp_path_factory.mktemp("app"), n_micrographs=4, n_test=1, snr=1.0)
    assert main(["preprocess", str(root / "micrographs"), "--particle-diameter-A", "40", "--downsample", "2",
                 "-o", str(root / "work"), "-q"]) == 0
    return root


@pytest.fixture(scope="session")
def true_centres(app_data: Path):
    """The training micrographs' particle centres, original pixels."""
    return read_picks(app_data / "train.txt")


class Client:
    """A tiny HTTP client (the standard library's) for the app served on a real socket."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = dict(headers)

    def request(self, method: str, url: str, *, json=None, content=None, headers: dict[str, str] | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        body = content if content is not None else None if json is None else jsonlib.dumps(json).encode()
        sent = {**self.headers, **(headers or {})}
        if json is not None:
            sent.setdefault("Content-Type", "application/json")
        chunked = body is not None and not isinstance(body, (bytes, str))
        try:
            connection.request(method, url, body=body, headers=sent, encode_chunked=chunked)
            response = connection.getresponse()
            return Response(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)


@dataclasses.dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self):
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


@contextlib.contextmanager
def serving(app):
    """``app`` on uvicorn, on a free port of 127.0.0.1, in a thread; yields the port."""
    import uvicorn

    from cryopick.app.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
