"""The app's API: every refused request gets a 4xx with a clear message and changes nothing."""

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.app.conftest import Client, serving

from cryopick.app.project import LABELS_DIR, Project
from cryopick.app.server import TOKEN_HEADER, create_app, new_token
from cryopick.app.training import Trainer
from cryopick.config import AppConfig
from cryopick.io.coordinates import read_all_picks
from cryopick.picks import Picks

TOKEN = new_token()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return tmp_path / "project"


@contextlib.contextmanager
def app_client(app_data: Path, project_dir: Path):
    config = AppConfig(max_body_bytes=4096, epochs=1, steps_per_epoch=2)
    project = Project(app_data / "work", project_dir)
    with serving(create_app(project, Trainer(project, config), config, token=TOKEN)) as port:
        yield Client(port, {TOKEN_HEADER: TOKEN})


@pytest.fixture
def client(app_data: Path, project_dir: Path):
    """A fresh project's app."""
    with app_client(app_data, project_dir) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def shared(app_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """One app for the tests of refused requests, which change nothing (each checks that)."""
    project_dir = tmp_path_factory.mktemp("shared") / "project"
    with app_client(app_data, project_dir) as client:
        yield client, project_dir


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` and its hash: what "nothing changed" compares."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()} if directory.exists() else {}


def refused(client: Client, project_dir: Path, method: str, url: str, status: int, match: str,
            **kwargs) -> None:
    before = snapshot(project_dir)
    response = client.request(method, url, **kwargs)
    assert response.status_code == status, response.text
    assert match in response.json()["error"]
    assert snapshot(project_dir) == before


def test_a_label_round_trips_in_original_pixels(client: Client, project_dir: Path) -> None:
    response = client.post("/api/micrographs/mic00/labels", json={"x_orig_px": 101.5, "y_orig_px": 40.25})
    assert response.status_code == 200
    detail = response.json()["micrograph"]
    assert detail["labels"] == [[101.5, 40.25]]
    assert detail["orig_px_per_image_px"] == 2.0  # preprocessed at 2x, shown whole
    assert detail["image_shape"] == [128, 128]
    labels = read_all_picks([project_dir / LABELS_DIR])
    assert labels.micrograph.tolist() == ["mic00"]
    assert labels.x_orig_px.tolist() == [101.5]
    assert labels.y_orig_px.tolist() == [40.25]
    image = client.get("/api/micrographs/mic00/image")
    assert image.headers["content-type"] == "image/webp"
    from io import BytesIO
    assert Image.open(BytesIO(image.content)).size == (128, 128)


@pytest.mark.parametrize(("headers", "query", "status", "match"), [
    ({}, "", 401, "missing token"),
    ({TOKEN_HEADER: "not-the-token"}, "", 403, "wrong token"),
    ({}, "?token=not-the-token", 403, "wrong token"),
    ({}, "?token=", 401, "missing token"),
])
def test_every_request_needs_the_token(shared: tuple[Client, Path], headers: dict[str, str], query: str,
                                       status: int, match: str) -> None:
    client, project_dir = shared
    client = Client(client.port, {})
    for method, url, body in [("GET", "/", None), ("GET", "/api/state", None),
                              ("GET", "/api/micrographs/mic00/image", None), ("GET", "/no/such/route", None),
                              ("POST", "/api/micrographs/mic00/labels", {"x_orig_px": 10, "y_orig_px": 10}),
                              ("POST", "/api/train", {"expected_particles_per_micrograph": 25})]:
        refused(client, project_dir, method, url + query, status, match, headers=headers, json=body)
    assert client.get(f"/api/state?token={TOKEN}").status_code == 200
    assert client.get("/", headers={TOKEN_HEADER: TOKEN}).status_code == 200


@pytest.mark.parametrize(("url", "match"), [
    ("/api/micrographs/mic99", "unknown micrograph 'mic99'"),
    ("/api/micrographs/mic99/image", "unknown micrograph 'mic99'"),
    ("/api/micrographs/..%2F..%2Fetc%2Fpasswd/image", "no such page or API route"),
    ("/api/micrographs/%2e%2e/image", "unknown micrograph '..'"),
    ("/api/micrographs/mic00.mrc/image", "unknown micrograph 'mic00.mrc'"),
    ("/api/micrographs/%2Fetc%2Fpasswd", "no such page or API route"),
    ("/static/../../../etc/passwd", "no such page or API route"),
])
def test_only_the_given_micrographs_are_served(shared: tuple[Client, Path], url: str, match: str) -> None:
    client, project_dir = shared
    refused(client, project_dir, "GET", url, 404, match)


@pytest.mark.parametrize(("body", "status", "match"), [
    ({"x_orig_px": "12", "y_orig_px": 30}, 400, "x_orig_px must be a number, got '12'"),
    ({"x_orig_px": True, "y_orig_px": 30}, 400, "x_orig_px must be a number"),
    ({"x_orig_px": None, "y_orig_px": 30}, 400, "x_orig_px must be a number"),
    ({"x_orig_px": [1], "y_orig_px": 30}, 400, "x_orig_px must be a number"),
    ({"y_orig_px": 30}, 400, "missing field 'x_orig_px'"),
    ({"x_orig_px": -1, "y_orig_px": 30}, 400, "lies outside micrograph 'mic00'"),
    ({"x_orig_px": 12, "y_orig_px": 256}, 400, "lies outside micrograph 'mic00'"),
    ({"x_orig_px": 1e300, "y_orig_px": 30}, 400, "lies outside"),
])
def test_bad_coordinates_are_refused(shared: tuple[Client, Path], body: dict, status: int,
                                     match: str) -> None:
    client, project_dir = shared
    for action in ("labels", "labels/remove", "picks/accept", "picks/reject"):
        refused(client, project_dir, "POST", f"/api/micrographs/mic00/{action}", status, match, json=body)


@pytest.mark.parametrize(("content", "match"), [
    (b"NaN", "must be a JSON object"),
    (b'{"x_orig_px": NaN, "y_orig_px": 3}', "x_orig_px must be a finite number"),
    (b'{"x_orig_px": Infinity, "y_orig_px": 3}', "x_orig_px must be a finite number"),
    (b'{"x_orig_px": 3, ', "not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe", "not JSON"),
])
def test_malformed_bodies_are_refused(shared: tuple[Client, Path], content: bytes, match: str) -> None:
    client, project_dir = shared
    refused(client, project_dir, "POST", "/api/micrographs/mic00/labels", 400, match, content=content)


def test_oversized_bodies_are_refused_before_they_are_read(shared: tuple[Client, Path]) -> None:
    client, project_dir = shared
    big = json.dumps({"x_orig_px": 1, "y_orig_px": 1, "padding": "x" * 10_000}).encode()
    refused(client, project_dir, "POST", "/api/micrographs/mic00/labels", 413, "at most 4096 bytes", content=big)
    # without a length up front (chunked): cut off once it passes the limit
    refused(client, project_dir, "POST", "/api/micrographs/mic00/labels", 413, "more than 4096 bytes",
            content=iter([big[:3000], big[3000:6000], big[6000:]]))
    refused(client, project_dir, "POST", "/api/train", 413, "at most 4096 bytes", content=big)


def test_changes_that_cannot_apply_are_refused(client: Client, project_dir: Path) -> None:
    refused(client, project_dir, "POST", "/api/undo", 409, "nothing to undo")
    refused(client, project_dir, "POST", "/api/micrographs/mic00/labels/remove", 404, "no label on 'mic00'",
            json={"x_orig_px": 50, "y_orig_px": 50})
    refused(client, project_dir, "POST", "/api/micrographs/mic00/picks/accept", 404, "no open pick",
            json={"x_orig_px": 50, "y_orig_px": 50})
    refused(client, project_dir, "POST", "/api/micrographs/mic00/picks/accept", 400, "min_score must be a number",
            json={"min_score": "high"})
    refused(client, project_dir, "POST", "/api/micrographs/mic99/labels", 404, "unknown micrograph 'mic99'",
            json={"x_orig_px": 50, "y_orig_px": 50})
    refused(client, project_dir, "POST", "/api/train", 400, "expected_particles_per_micrograph must be positive",
            json={"expected_particles_per_micrograph": -3})
    refused(client, project_dir, "POST", "/api/train", 400, "missing field 'expected_particles_per_micrograph'",
            json={})
    refused(client, project_dir, "POST", "/api/train", 400, "no labels yet",
            json={"expected_particles_per_micrograph": 25})
    refused(client, project_dir, "GET", "/api/micrographs?threshold=abc", 400, "threshold must be a number")
    refused(client, project_dir, "GET", "/api/state?threshold=nan", 400, "threshold must be a finite number")
    refused(client, project_dir, "DELETE", "/api/micrographs/mic00/labels", 405, "DELETE is not allowed")
    assert client.post("/api/micrographs/mic00/labels", json={"x_orig_px": 50, "y_orig_px": 50}).status_code == 200
    refused(client, project_dir, "POST", "/api/micrographs/mic00/labels", 409, "already labelled",
            json={"x_orig_px": 50, "y_orig_px": 50})


def test_which_next_before_any_picks_spreads_labels(client: Client) -> None:
    client.post("/api/micrographs/mic00/labels", json={"x_orig_px": 50, "y_orig_px": 50})
    order = client.get("/api/next").json()["order"]
    assert [s["name"] for s in order] == ["mic01", "mic02", "mic03", "mic00"]
    assert all(s["uncertainty_bits"] is None for s in order)


def test_picks_judged_and_undone_through_the_api(app_data: Path, project_dir: Path) -> None:
    config = AppConfig()
    picks = Picks.build(["mic01"] * 3, [40.0, 120.0, 200.0], [40.0, 120.0, 200.0], [3.0, 0.1, -2.0])
    (app_data / "given").mkdir(exist_ok=True)
    from cryopick.io.coordinates import write_picks
    write_picks(app_data / "given" / "picks.star", picks)
    project = Project(app_data / "work", project_dir, picks=[app_data / "given" / "picks.star"])
    with serving(create_app(project, Trainer(project, config), config, token=TOKEN)) as port:
        client = Client(port, {TOKEN_HEADER: TOKEN})
        state = client.get("/api/state?threshold=0").json()
        assert state["score_range"] == [-2.0, 3.0]
        assert {m["name"]: m["n_picks"] for m in state["micrographs"]}["mic01"] == 2
        assert client.get("/api/micrographs?threshold=-5").json()["micrographs"][1]["n_picks"] == 3
        accepted = client.post("/api/micrographs/mic01/picks/accept", json={"min_score": 0}).json()
        assert accepted["result"] == 2
        assert sorted(accepted["micrograph"]["labels"]) == [[40.0, 40.0], [120.0, 120.0]]
        assert accepted["micrograph"]["picks"] == [[200.0, 200.0, -2.0]]  # accepted picks become labels
        rejected = client.post("/api/micrographs/mic01/picks/reject", json={"x_orig_px": 203, "y_orig_px": 198})
        assert rejected.json()["micrograph"]["picks"] == []
        order = client.get("/api/next").json()["order"]
        assert all(s["uncertainty_bits"] == 0 for s in order)  # nothing open: fewest labels first
        assert order[-1]["name"] == "mic01"
        undone = client.post("/api/undo").json()
        assert undone["undone"]["kind"] == "rejected"
        assert undone["micrograph"]["picks"] == [[200.0, 200.0, -2.0]]
        order = client.get("/api/next").json()["order"]
        assert order[0]["name"] == "mic01"
        assert order[0]["regions"] == [[200.0, 200.0]]
        assert order[0]["uncertainty_bits"] == pytest.approx(0.5271, abs=1e-3)  # H(sigmoid(-2)) in bits
    labels = read_all_picks([project_dir / LABELS_DIR])
    assert np.allclose(np.sort(labels.x_orig_px), [40.0, 120.0])
