#!/usr/bin/env bash
# The batch of issue 15's tables, run side by side on one GPU machine within a time limit:
#   Table 2 on scientific_mm and scientific (tuned, seeds 42 1 2), Table 3 on scientific_mm (seeds 42 1 2),
#   Table 2 on sports (default settings, seed 42).
# Every run is its own process (--jobs), one CPU thread each. At the limit whatever still runs is stopped;
# finished runs (results.json + ranks.npz) and the registry are packed into $OUT/runs.tgz (no weights), and
# the same commands run again here reuse them and train only what is missing.
#
#   OUT=/tmp/out LIMIT=500 experiments/gpu_batch.sh   (PYTHON=python3 where python is not it; DEVICE=cpu
#   EXTRA="--epochs 1" to try it on a CPU)
#
# Expects the datasets at ../shared/datasets and the text features at data/features (encode_text.py).
set -u
OUT=${OUT:?set OUT to the folder that receives runs.tgz and the logs}
LIMIT=${LIMIT:-500}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}
PY=${PYTHON:-python}
D="--data-dir ../shared/datasets"
SET="--set device=$DEVICE --set threads=1"
MODELS="sasrecf unisrec missrec mdsrec"
mkdir -p "$OUT"
start=$SECONDS

"$PY" experiments/table2.py --dataset scientific_mm $D --models $MODELS --tune --seeds 42 1 2 --jobs 4 $SET \
    $EXTRA >"$OUT/table2-scientific_mm.log" 2>&1 &
"$PY" experiments/table2.py --dataset scientific $D --models $MODELS --tune --seeds 42 1 2 --jobs 4 $SET \
    $EXTRA >"$OUT/table2-scientific.log" 2>&1 &
"$PY" experiments/ablation.py --dataset scientific_mm $D --seeds 42 1 2 --jobs 3 $SET \
    $EXTRA >"$OUT/ablation-scientific_mm.log" 2>&1 &
"$PY" experiments/table2.py --dataset sports $D --models pop sasrec mdsrec sasrecf unisrec missrec --seeds 42 \
    --jobs 4 $SET $EXTRA >"$OUT/table2-sports.log" 2>&1 &

while [ $((SECONDS - start)) -lt "$LIMIT" ] && [ -n "$(jobs -r)" ]; do
    sleep 15
    echo "$((SECONDS - start)) s: $(find runs -name results.json | wc -l) runs finished," \
         "$(find runs -name checkpoint.pt | wc -l) training" \
         "$(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null)"
done
pkill -KILL -f "experiments/(table2|ablation).py" 2>/dev/null
pkill -KILL -f "multiprocessing" 2>/dev/null
sleep 2
echo "stopped at $((SECONDS - start)) s; finished runs:"
find runs -name results.json | sort
tar czf "$OUT/runs.tgz" --exclude='*.pt' --exclude='run.lock' runs results
for log in "$OUT"/*.log; do echo "== $log"; grep -E "error|Error|failed" "$log" | head -5; done
