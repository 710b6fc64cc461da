"""cryopick and the peer (Topaz) on the same data in one run, with matched settings; one JSON line.

Matched: the same micrographs, labels (--num-labeled N), downsampling (the dataset's
suggested_downsample), minibatch size (256) and number of parameter updates (epochs x steps);
cryopick's early stopping is off so both sides make every update. Each step runs as a command
under /usr/bin/time, so times are wall-clock per command and memory is that command's peak RSS.
Topaz runs through ../shared/bench/peer_topaz.sh (which builds its venv on first use; set
TOPAZ_VENV to reuse one); its extraction is then re-run alone to measure its memory.

Extraction is timed twice per side: on the test micrographs (as the AP is measured) and on every
micrograph of the dataset linked --repeat times (throughput, with process start spread out). The
conv throughput is one thread's, as extract scores each micrograph in one thread (one per core),
against a one-thread matmul.

  python bench/compare_topaz.py /tmp/cryopick-data/real_empiar10146_apoferritin --num-labeled 100 \
      --epochs 2 --steps-per-epoch 250 --default-budget
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasets import link_test_micrographs
from measure import conv_flop, machine, matmul_gflops

HERE = Path(__file__).resolve().parent
PEER = HERE.parent.parent / "shared" / "bench" / "peer_topaz.sh"


def timed(command: list[str], *, env: dict | None = None, log: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one command."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        started = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats.name, *command], env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
        if log is not None:
            log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
        peak_kb = float(stats.read().strip().splitlines()[-1])
    return wall, peak_kb / 1024, result.stdout


def conv_throughput(model_dir: Path, micrograph: Path) -> dict:
    """GFLOP/s of scoring one micrograph (at extract's default stride for the model),
    in one thread as extract runs each micrograph, against a one-thread float32 matmul's."""
    import torch

    from cryopick.config import ExtractConfig
    from cryopick.extract.scoring import score_micrographs
    from cryopick.io.micrographs import read_micrograph
    from cryopick.preprocess.fourier import fourier_crop
    from cryopick.workflows.modelio import load_picker

    model, _, geometry = load_picker(model_dir)
    stride = ExtractConfig().resolved_score_stride_px(model.input_pool)
    image = fourier_crop(read_micrograph(micrograph).array, geometry.downsample_factor)
    image = (image - image.mean()) / image.std()
    torch.set_num_threads(1)
    flop = conv_flop(model, image, stride)
    device = torch.device("cpu")
    score_micrographs(model, [image], device=device, output_stride=stride)  # warm-up
    repeats = 3
    started = time.perf_counter()
    for _ in range(repeats):
        score_micrographs(model, [image], device=device, output_stride=stride)
    seconds = (time.perf_counter() - started) / repeats
    matmul = matmul_gflops(device)
    achieved = flop / seconds / 1e9
    return {"conv_gflop_per_micrograph": round(flop / 1e9, 2), "score_s_per_micrograph": round(seconds, 3),
            "conv_gflops": round(achieved, 1), "matmul_gflops": {k: round(v, 1) for k, v in matmul.items()},
            "fraction_of_matmul": round(achieved / matmul["ceiling"], 3), "working_shape_px": list(image.shape),
            "score_stride_px": stride, "threads": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--num-labeled", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=250)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--peer-script", type=Path, default=PEER)
    parser.add_argument("--repeat", type=int, default=5,
                        help="the throughput run extracts every micrograph this many times (default: %(default)s)")
    parser.add_argument("--default-budget", action="store_true",
                        help="also train cryopick with its default budget (10 x 200 updates) and report time and AP")
    args = parser.parse_args()
    meta = json.loads((args.dataset / "meta.json").read_text())
    work = args.work or Path(tempfile.mkdtemp(prefix="cryopick-vs-topaz-"))
    work.mkdir(parents=True, exist_ok=True)
    factor = int(round(meta["suggested_downsample"]))
    test_names, test_dir = link_test_micrographs(args.dataset, work)
    cli = [sys.executable, "-m", "cryopick.cli.main"]
    ours: dict = {}
    ours["preprocess_s"], _, _ = timed([*cli, "preprocess", str(args.dataset / "micrographs"), "-o", str(work / "pre"),
                                        "--particle-diameter-A", str(meta["particle_diameter_A"]),
                                        "--downsample", str(factor), "-q"])
    ours["train_s"], ours["train_peak_rss_mb"], _ = timed([
        *cli, "train", "--micrographs", str(work / "pre"), "--particles", str(args.dataset / "particles_train.txt"),
        "-o", str(work / "model"), "-n", str(meta["expected_particles_per_micrograph"]),
        "--num-labeled", str(args.num_labeled), "--epochs", str(args.epochs),
        "--steps-per-epoch", str(args.steps_per_epoch), "--patience", str(args.epochs + 1), "-q"])
    extract_s, ours["extract_peak_rss_mb"], _ = timed([
        *cli, "extract", "--model", str(work / "model"), "--micrographs", str(test_dir),
        "-o", str(work / "picks.txt"), "-q"])
    ours["extract_s_per_micrograph"] = extract_s / len(test_names)
    timed([*cli, "evaluate", "--picks", str(work / "picks.txt"),
           "--reference", str(args.dataset / "particles_test.txt"),
           "--match-radius-orig-px", str(meta["particle_radius_px"]), "-o", str(work / "eval"), "-q"])
    ours["ap"] = json.loads((work / "eval" / "metrics.json").read_text())["average_precision"]
    ours["architecture"] = json.loads((work / "model" / "model.json").read_text())["architecture"]["name"]

    env = dict(os.environ)
    peer_out = work / "topaz"
    peer_wall, peer_rss, stdout = timed(["bash", str(args.peer_script), str(args.dataset), str(args.num_labeled),
                                         str(peer_out), str(args.epochs), str(args.steps_per_epoch)], env=env,
                                        log=work / "topaz.log")
    result = dict(re.findall(r"(\w+)=(\S+)", stdout.strip().splitlines()[-1]))
    venv = Path(env.get("TOPAZ_VENV", Path(os.environ.get("TMPDIR", "/tmp")) / "topaz-venv"))
    model = sorted(peer_out.glob("model_epoch*.sav"), key=lambda p: p.stat().st_mtime)[-1]
    peer_extract_s, peer_extract_rss, _ = timed([
        str(venv / "bin" / "topaz"), "extract", "--device", "-1", "-m", str(model),
        "-r", str(int(meta["particle_radius_px"] / factor)), "-x", str(factor), "-o", str(work / "topaz_again.txt"),
        *sorted(str(p) for p in (peer_out / "test_imgs").glob("*.mrc"))])
    peer = {"ap": float(result["ap"]), "train_s": float(result["train_s"]),
            "extract_s_per_micrograph": float(result["extract_s"]) / int(result["n_test"]),
            "extract_again_s_per_micrograph": peer_extract_s / int(result["n_test"]),
            "extract_peak_rss_mb": peer_extract_rss, "preprocess_s": float(result["preprocess_s"]),
            "whole_script_s": peer_wall, "whole_script_peak_rss_mb": peer_rss}
    # throughput on many micrographs (process start spread over them, as in a facility's session):
    # every micrograph of the dataset, each linked --repeat times under new names; each side reads
    # its own input: cryopick the raw micrographs, Topaz its preprocessed ones
    every = sorted((args.dataset / "micrographs").glob("*.mrc"))
    ours_many, peer_many = work / "many_raw", work / "many_topaz"
    for folder, source in ((ours_many, args.dataset / "micrographs"), (peer_many, peer_out / "pre")):
        folder.mkdir(exist_ok=True)
        for repeat in range(args.repeat):
            for path in every:
                link = folder / f"{path.stem}_r{repeat}.mrc"
                if not link.exists():
                    link.symlink_to((source / path.name).resolve())
    n_many = len(every) * args.repeat
    all_s, _, _ = timed([*cli, "extract", "--model", str(work / "model"), "--micrographs", str(ours_many),
                         "-o", str(work / "all" / "picks.txt"), "-q"])
    ours["extract_all_s_per_micrograph"] = all_s / n_many
    peer_all_s, _, _ = timed([
        str(venv / "bin" / "topaz"), "extract", "--device", "-1", "-m", str(model),
        "-r", str(int(meta["particle_radius_px"] / factor)), "-x", str(factor), "-o", str(work / "topaz_all.txt"),
        *sorted(str(p) for p in peer_many.glob("*.mrc"))])
    peer["extract_all_s_per_micrograph"] = peer_all_s / n_many
    if args.default_budget:
        default_s, _, _ = timed([
            *cli, "train", "--micrographs", str(work / "pre"), "--particles", str(args.dataset / "particles_train.txt"),
            "-o", str(work / "model_default"), "-n", str(meta["expected_particles_per_micrograph"]),
            "--num-labeled", str(args.num_labeled), "-q"])
        timed([*cli, "extract", "--model", str(work / "model_default"), "--micrographs", str(test_dir),
               "-o", str(work / "picks_default.txt"), "-q"])
        timed([*cli, "evaluate", "--picks", str(work / "picks_default.txt"),
               "--reference", str(args.dataset / "particles_test.txt"),
               "--match-radius-orig-px", str(meta["particle_radius_px"]), "-o", str(work / "eval_default"), "-q"])
        ours["default_budget"] = {
            "train_s": round(default_s, 1),
            "ap": json.loads((work / "eval_default" / "metrics.json").read_text())["average_precision"]}
    throughput = conv_throughput(work / "model", test_dir / f"{test_names[0]}.mrc")

    print(json.dumps({
        "bench": "compare_topaz", "dataset": args.dataset.name, "num_labeled": args.num_labeled,
        "updates": args.epochs * args.steps_per_epoch, "minibatch": 256, "downsample": factor,
        "cryopick": {k: round(v, 4) if isinstance(v, float) else v for k, v in ours.items()},
        "topaz": {k: round(v, 4) if isinstance(v, float) else v for k, v in peer.items()},
        "ratios": {
            "extract_speedup": round(peer["extract_s_per_micrograph"] / ours["extract_s_per_micrograph"], 2),
            "extract_all_speedup": round(peer["extract_all_s_per_micrograph"] / ours["extract_all_s_per_micrograph"],
                                         2),
            "micrographs_in_throughput_run": n_many,
            "train_time_fraction": round(ours["train_s"] / peer["train_s"], 3),
            "extract_rss_fraction": round(ours["extract_peak_rss_mb"] / peer["extract_peak_rss_mb"], 3),
            "ap_difference": round(ours["ap"] - peer["ap"], 4),
        },
        "throughput": throughput,
        "machine": machine(),
        "work": str(work),
    }))


if __name__ == "__main__":
    main()
