#!/usr/bin/env bash
# The CUDA path end to end, and GPU throughput, in one run of about 6 minutes on an H100.
#
#   1. the GPU and torch as seen (nvidia-smi -L, torch.cuda);
#   2. a pytest subset with the GPU visible (the CLI tests' --device auto then takes CUDA);
#   3. the demo's pipeline with --device cuda: train (float32, then bfloat16), extract, evaluate;
#      AP and seconds of each precision (e2e.jsonl);
#   4. bench/train_step.py --device cuda (resnet8, conv3; float32, bfloat16) and
#      bench/extract_large.py --device cuda.
#
#   bench/gpu_check.sh LOGDIR [DEMO]
#
# LOGDIR receives env.txt, pytest.log, e2e.log, e2e.jsonl, bench.log, train_step.jsonl and
# extract_large.jsonl (7 files, flat). DEMO: a directory holding the demo's data/particles_{train,test}.txt
# and preprocessed/ (from `make demo`'s simulate + preprocess); made here when absent. Work files go
# to ${WORK:-/tmp/gpucheck}. DEVICE=cpu QUICK=1 bench/gpu_check.sh /tmp/logs is a smoke test of this
# script on a machine without a GPU (tiny sizes). The python that runs it must already import
# cryopick (PYTHONPATH=src, or an install) and its dependencies. A GPU image without mrcfile and
# starfile gets them as wheels (pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl
# mrcfile starfile), installed there with pip install --no-index --no-deps --target /tmp/site .whl/*.whl
# and PYTHONPATH=/tmp/site. Figures of 2026-11-27: bench/results/speed/gpu_h100_2026-11-27.jsonl.
set -u
LOGS=$(mkdir -p "$1" && cd "$1" && pwd)
DEMO=${2:-}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/gpucheck}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT/src:$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT" || exit 1
mkdir -p "$WORK"

if [ "$QUICK" = 1 ]; then
  TESTS=(tests/test_device.py)
  STEPS=3 EPOCHS=1 TS_STEPS=2 TS_WARMUP=1
  EL=(--size-px 512 --downsample 2 --distinct 1 --copies 2)
else
  TESTS=(tests/test_device.py tests/models tests/train tests/extract tests/pu
         tests/cli/test_pipeline.py tests/cli/test_train.py tests/cli/test_resume.py)
  STEPS=200 EPOCHS=2 TS_STEPS=100 TS_WARMUP=10
  EL=(--size-px 4096 --downsample 8 --distinct 2 --copies 32)
fi
cryopick() { "$PY" -m cryopick.cli.main "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# 1. what is there
{
  nvidia-smi -L 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available()); \
print('device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, \
'bf16', torch.cuda.is_bf16_supported() if torch.cuda.is_available() else None, \
'cudnn', torch.backends.cudnn.version(), 'tf32 conv', torch.backends.cudnn.allow_tf32, \
'tf32 matmul', torch.backends.cuda.matmul.allow_tf32)"
  "$PY" -c "import importlib.metadata as m; print({n: m.version(n) for n in ('numpy', 'scipy', 'pandas', 'pyarrow', \
'mrcfile', 'starfile', 'tifffile', 'safetensors', 'pytest', 'hypothesis')})"
  "$PY" -c "import cryopick.cli.main, mrcfile, starfile; print('cryopick imports')"
  echo "cores $(nproc)"
} >"$LOGS/env.txt" 2>&1
cat "$LOGS/env.txt"

# extract_large's data (simulated 4096 px micrographs, a CPU-trained model) meanwhile: CPU-only
echo "== extract_large data (background)"
(nice "$PY" -c "import sys; from pathlib import Path; from extract_large import make_data; \
make_data(Path(sys.argv[1]), size_px=int(sys.argv[2]), distinct=int(sys.argv[3]), copies=int(sys.argv[4]), \
downsample=int(sys.argv[5]))" "$WORK/extract-large" "${EL[1]}" "${EL[5]}" "${EL[7]}" "${EL[3]}" \
  >"$WORK/make_data.log" 2>&1; echo "make_data rc=$?" >>"$WORK/make_data.log") &
DATA_PID=$!

# 2. tests with the GPU visible
echo "== pytest ${TESTS[*]}"
XDIST=()
"$PY" -c "import xdist" 2>/dev/null && [ "$QUICK" != 1 ] && XDIST=(-n 4)
started=$(now)
# no:benchmark: pytest-benchmark (in some images) warns under xdist, an error with the suite's filterwarnings
timeout 170 "$PY" -m pytest -q -p no:cacheprovider -p no:benchmark -rfEs --durations=10 "${XDIST[@]}" "${TESTS[@]}" \
  >"$LOGS/pytest.log" 2>&1
echo "pytest rc=$? ($(since "$started") s)" | tee -a "$LOGS/pytest.log"
tail -n 25 "$LOGS/pytest.log"

wait "$DATA_PID"
cat "$WORK/make_data.log"

# 3. the demo's pipeline on the device, float32 then bfloat16 (same data, labels and seed)
echo "== e2e on $DEVICE"
if [ -z "$DEMO" ]; then
  DEMO=$WORK/demo
  cryopick simulate -o "$DEMO/data" --num-micrographs 10 --snr 0.03 -q
  cryopick preprocess "$DEMO/data/micrographs" --particle-diameter-A 96 -o "$DEMO/preprocessed" -q
fi
: >"$LOGS/e2e.jsonl"
for precision in float32 bfloat16; do
  run=$WORK/e2e_$precision
  rm -rf "$run"
  {
    t0=$(now)
    timeout 100 "$PY" -m cryopick.cli.main train --micrographs "$DEMO/preprocessed" \
      --particles "$DEMO/data/particles_train.txt" --expected-particles-per-micrograph 60 --num-labeled 100 \
      --epochs "$EPOCHS" --steps-per-epoch "$STEPS" --device "$DEVICE" --precision "$precision" -o "$run/model"
    train_rc=$?
    t1=$(now)
    timeout 60 "$PY" -m cryopick.cli.main extract --model "$run/model" --micrographs "$DEMO/preprocessed" \
      --device "$DEVICE" -o "$run/picks.star"
    extract_rc=$?
    t2=$(now)
    timeout 60 "$PY" -m cryopick.cli.main evaluate --picks "$run/picks.star" \
      --reference "$DEMO/data/particles_test.txt" --model "$run/model" -o "$run/evaluation"
    evaluate_rc=$?
    t3=$(now)
  } >>"$LOGS/e2e.log" 2>&1
  "$PY" - "$run" "$precision" "$DEVICE" "$train_rc" "$extract_rc" "$evaluate_rc" "$t0" "$t1" "$t2" "$t3" \
    >>"$LOGS/e2e.jsonl" 2>>"$LOGS/e2e.log" <<'EOF'
import json, sys
from pathlib import Path
from measure import machine
run, precision, device = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rc = dict(zip(("train", "extract", "evaluate"), map(int, sys.argv[4:7])))
t = [float(x) for x in sys.argv[7:11]]
out = {"bench": "gpu_check_e2e", "device": device, "precision": precision, "rc": rc,
       "train_s": round(t[1] - t[0], 2), "extract_s": round(t[2] - t[1], 2), "evaluate_s": round(t[3] - t[2], 2)}
try:
    training = json.loads((run / "model" / "model.json").read_text())["training"]
    out |= {"recorded_precision": training["precision"], "init_model": training["init_model"],
            "updates": training["config"]["epochs"] * training["config"]["steps_per_epoch"],
            "epoch_s": [round(h["seconds"], 2) for h in training["history"]],
            "loss": [round(h["loss"], 4) for h in training["history"]]}
except (OSError, KeyError, ValueError) as exc:
    out["model_json_error"] = repr(exc)
try:
    metrics = json.loads((run / "evaluation" / "metrics.json").read_text())
    out |= {k: metrics[k] for k in ("average_precision", "best_f1") if k in metrics}
except (OSError, ValueError) as exc:
    out["metrics_error"] = repr(exc)
out["machine"] = machine()
print(json.dumps(out))
EOF
  tail -n 1 "$LOGS/e2e.jsonl"
  [ "$train_rc$extract_rc$evaluate_rc" = 000 ] || tail -n 40 "$LOGS/e2e.log"
done

# 4. throughput
echo "== train_step on $DEVICE"
timeout 75 "$PY" bench/train_step.py --device "$DEVICE" --steps "$TS_STEPS" --warmup "$TS_WARMUP" \
  >"$LOGS/train_step.jsonl" 2>>"$LOGS/bench.log"
echo "train_step rc=$?" | tee -a "$LOGS/bench.log"
tail -n 20 "$LOGS/bench.log"
cat "$LOGS/train_step.jsonl"
echo "== extract_large on $DEVICE"
timeout 90 "$PY" bench/extract_large.py --work "$WORK/extract-large" "${EL[@]}" --device "$DEVICE" \
  >"$LOGS/extract_large.jsonl" 2>>"$LOGS/bench.log"
echo "extract_large rc=$?" | tee -a "$LOGS/bench.log"
tail -n 20 "$LOGS/bench.log"
cat "$LOGS/extract_large.jsonl"
