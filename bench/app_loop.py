"""The labelling loop of `cryopick app`, scripted through its page in headless Chromium (Playwright).

Each round clicks CLICKS reference particles (from particles_train.txt) on one training micrograph,
presses Train and waits for the new picks; then scores the round's picks on the test micrographs
with `cryopick evaluate`. Round 1 labels the first training micrograph; later rounds ask "Which
next?" and label its first training micrograph, the particles there the model is least sure of
first (the reference particles whose nearest open pick is nearest even odds, or that have none).
Prints one JSON line per round: seconds from Train to the new picks, labels, AP.

  python bench/app_loop.py DATASET --work WORK [--epochs 2] [--screenshot docs/app.png]
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def cryopick(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cryopick.cli.main", *args, "-q"], check=True)


def reference(path: Path) -> dict[str, list[tuple[float, float]]]:
    centres: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text().splitlines()[1:]:
        if line.strip():
            name, x, y = line.split("\t")[:3]
            centres.setdefault(name, []).append((float(x), float(y)))
    return centres


@contextlib.contextmanager
def app(args: argparse.Namespace, work: Path, expected: float) -> Iterator[str]:
    command = [sys.executable, "-m", "cryopick.cli.main", "app", "--micrographs", str(work / "preprocessed"),
               "-o", str(work / "project"), "-n", str(expected), "--no-browser"]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if args.steps_per_epoch:
        command += ["--steps-per-epoch", str(args.steps_per_epoch)]
    with (work / "app.log").open("a") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[1]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def uncertainty(point: tuple[float, float], picks: list[list[float]], radius: float) -> float:
    """Entropy (bits) of the open pick nearest ``point`` within a radius; 1 (the most) for none."""
    near = [p for p in picks if math.hypot(p[0] - point[0], p[1] - point[1]) <= radius]
    if not near:
        return 1.0
    score = max(near, key=lambda p: -math.hypot(p[0] - point[0], p[1] - point[1]))[2]
    probability = 1 / (1 + math.exp(-max(-50.0, min(50.0, score))))
    if probability in (0.0, 1.0):
        return 0.0
    return -(probability * math.log2(probability) + (1 - probability) * math.log2(1 - probability))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None, help="Train's epochs (default: cryopick train's)")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--downsample", type=int, default=None, help="default: the dataset's suggested one")
    parser.add_argument("--screenshot", type=Path, default=None, help="PNG of the page after the last round")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    meta = json.loads((args.dataset / "meta.json").read_text())
    work = args.work
    if not (work / "preprocessed" / "preprocess.json").is_file():
        command = ["preprocess", str(args.dataset / "micrographs"), "--particle-diameter-A",
                   str(meta["particle_diameter_A"]), "-o", str(work / "preprocessed")]
        if args.downsample:
            command += ["--downsample", str(args.downsample)]
        cryopick(*command)
    if (work / "project").exists():
        shutil.rmtree(work / "project")
    train = reference(args.dataset / "particles_train.txt")
    radius = meta["particle_diameter_A"] / meta["pixel_size_A"] / 2
    with sync_playwright() as playwright, app(args, work, meta["expected_particles_per_micrograph"]) as url:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.set_default_timeout(60_000)
        page.goto(url)
        expect(page.locator("#viewer")).not_to_have_attribute("data-loaded", "")
        labelled: set[tuple[str, float, float]] = set()
        for number in range(1, args.rounds + 1):
            if number == 1:
                target = sorted(train)[0]
            else:
                page.locator("#which-next").click()
                order = page.evaluate("fetch('/api/next', {headers: {'X-Cryopick-Token': token}})"
                                      ".then(r => r.json())")["order"]
                target = next(s["name"] for s in order if s["name"] in train)
            page.locator(f'#micrographs tr[data-name="{target}"]').click()
            expect(page.locator("#viewer")).to_have_attribute("data-loaded", target)
            picks = page.evaluate("app.current.picks")
            todo = sorted((p for p in train[target] if (target, *p) not in labelled),
                          key=lambda p: -uncertainty(p, picks, radius))[:args.clicks]
            count = int(page.locator("#label-count").get_attribute("data-count") or 0)
            for x, y in todo:
                box = page.locator("#micrograph-image").bounding_box()
                rows, cols, scale = page.evaluate("[...app.current.image_shape, app.current.orig_px_per_image_px]")
                page.mouse.click(box["x"] + (x / scale + 0.5) * box["width"] / cols,
                                 box["y"] + (y / scale + 0.5) * box["height"] / rows)
                count += 1
                expect(page.locator("#label-count")).to_have_attribute("data-count", str(count))
                labelled.add((target, x, y))
            previous = page.evaluate("app.training && app.training.round")
            started = time.perf_counter()
            page.locator("#train").click()
            # this round's end, not the last one's "done" still showing
            page.wait_for_function(f"app.training && app.training.round !== {json.dumps(previous)} "
                                   "&& app.training.state !== 'running'", timeout=3_600_000, polling=200)
            seconds = time.perf_counter() - started
            if page.evaluate("app.training.state") != "done":
                raise SystemExit(f"round {number} failed: {page.evaluate('app.training.message')}")
            status = page.evaluate("app.training")
            round_dir = work / "project" / "rounds" / f"round_{status['round']:03d}"
            cryopick("evaluate", "--picks", str(round_dir / "picks.star"), "--reference",
                     str(args.dataset / "particles_test.txt"), "--model", str(round_dir / "model"),
                     "-o", str(round_dir / "evaluation"))
            metrics = json.loads((round_dir / "evaluation" / "metrics.json").read_text())
            print(json.dumps({"bench": "app_loop", "dataset": args.dataset.name, "round": number,
                              "micrograph": target, "labels": len(labelled), "train_to_picks_s": round(seconds, 1),
                              "server_round_s": status["seconds"],
                              "average_precision": round(metrics["average_precision"], 4),
                              "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
                              "cpus": os.cpu_count()}), flush=True)
        if args.screenshot:
            page.locator("#which-next").click()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.screenshot))
        browser.close()


if __name__ == "__main__":
    main()
