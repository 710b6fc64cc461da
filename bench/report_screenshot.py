"""Render `cryopick report` of a picking run on a benchmark dataset in headless Chromium and save
a screenshot; prints one JSON line (AP, images decoded by the browser, file sizes, times).

Reuses WORK from `bench/pipeline.py --work WORK` when it holds a model and picks, else runs it.

  python bench/report_screenshot.py /tmp/cryopick-data/real_empiar10146_apoferritin --work /tmp/apo-work
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--num-labeled", type=int, default=100)
    parser.add_argument("--window", default="1400,2200", help="browser window WIDTH,HEIGHT")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium: apt-get install chromium")
    here = Path(__file__).parent
    if not ((args.work / "model" / "model.json").is_file() and (args.work / "picks.txt").is_file()):
        subprocess.run([sys.executable, str(here / "pipeline.py"), str(args.dataset), "--num-labeled",
                        str(args.num_labeled), "--work", str(args.work)], check=True, stdout=subprocess.DEVNULL)
    html = args.work / "report" / "report.html"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cryopick.cli.main", "report", "--picks", str(args.work / "picks.txt"),
                    "--micrographs", str(args.work / "test_micrographs"), "--model", str(args.work / "model"),
                    "--reference", str(args.dataset / "particles_test.txt"), "-o", str(html), "-q"], check=True)
    report_s = time.perf_counter() - started
    url = html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/a", "--dump-dom", url],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        png = args.work / "report" / "report.png"
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/b", f"--window-size={args.window}",
                        f"--screenshot={png}", url], capture_output=True, check=True, timeout=120)
    loaded = re.search(r'data-images-total="(\d+)" data-images-decoded="(\d+)"', dom)
    ap = re.search(r"<td>average precision</td><td>([0-9.]+)</td>", dom)
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "bench": "report_screenshot", "dataset": args.dataset.name, "html": str(html),
        "html_mb": round(html.stat().st_size / 1e6, 2), "screenshot": str(png),
        "images_total": int(loaded.group(1)) if loaded else None,
        "images_decoded": int(loaded.group(2)) if loaded else None,
        "average_precision": float(ap.group(1)) if ap else None, "report_s": round(report_s, 2), "browser": version,
    }))


if __name__ == "__main__":
    main()
