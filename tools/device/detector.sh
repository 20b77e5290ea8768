# Fine-tune the hand detector on a lent GPU machine (configs/hand_detector_gpu.yaml): make the
# composite sets there, train from the shipped weights for ${DET_MIN:-15} minutes, score AP at
# IoU 0.5 on a held-out set made like data/det_test (seed 1, 1,000 images), and leave
#   runs/det/hand_detector.pt   the new fp16 weights (the shipped format)
#   runs/det/ap.json            {"trained": ..., "shipped": ...} AP of the new and the shipped weights
#   runs/det/*.log              detector.log (steps, timings), gen_*.log, train.log, eval_*.log
# Run, from the repository root:  source tools/device/setup.sh; setsid nohup bash tools/device/detector.sh &
# (outlives a 10-minute call; "DETECTOR_END" or "DETECTOR_FAILED" ends runs/det/detector.log).
# Overrides (environment): DET_ROOT (runs/det), DET_MIN (15), DET_COUNT_A (20000), DET_COUNT_B (10000),
# DET_COUNT_TEST (1000), DET_GEN_WORKERS (6), DET_CONFIG (configs/hand_detector_gpu.yaml),
# DET_INIT (the shipped weights), PYTHON (python3). Re-running continues what is there: the
# composite sets are completed, a run in $DET_ROOT/run is resumed.
set -u
R=${DET_ROOT:-runs/det}
PY=${PYTHON:-python3}
MIN=${DET_MIN:-15}
GW=${DET_GEN_WORKERS:-6}
CONFIG=${DET_CONFIG:-configs/hand_detector_gpu.yaml}
INIT=${DET_INIT:-src/mobrecon/weights/hand_detector.pt}
export PYTHONPATH=${PYTHONPATH:-$PWD/src} PYTHONUNBUFFERED=1
mkdir -p "$R"
L=$R/detector.log
log() { echo "$(date '+%F %T') $*" >> "$L"; }
fail() { log "$*"; log DETECTOR_FAILED; exit 1; }
mob() { "$PY" -m mobrecon.cli "$@"; }

log "start: $MIN minutes, config $CONFIG, init $INIT, python $("$PY" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")' 2>&1)"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader >> "$L" 2>&1

gen() {  # gen NAME COUNT SEED [extra args]
  local name=$1 count=$2 seed=$3; shift 3
  local t0=$SECONDS
  mob detect-data "$R/$name" --count "$count" --seed "$seed" --workers "$GW" --quiet "$@" \
    > "$R/gen_$name.log" 2>&1 || { tail -n 5 "$R/gen_$name.log" >> "$L"; fail "making $R/$name failed"; }
  log "$(tail -n 1 "$R/gen_$name.log") [$((SECONDS - t0)) s]"
}
gen test "${DET_COUNT_TEST:-1000}" 1
gen train_a "${DET_COUNT_A:-20000}" 10
gen train_b "${DET_COUNT_B:-10000}" 11 --max-box 250

if [ -f "$R/run/last.pt" ]; then
  START=(--resume); log "resuming the run in $R/run"
else
  START=(--init "$INIT")
fi
t0=$SECONDS
mob detect-train --config "$CONFIG" --data "$R/train_a,$R/train_b" --out "$R/run" "${START[@]}" \
  --schedule-minutes "$MIN" --quiet > "$R/train.log" 2>&1 || { tail -n 5 "$R/train.log" >> "$L"; fail "training failed"; }
log "$(tail -n 1 "$R/train.log") [$((SECONDS - t0)) s]; last log line: $(tail -n 1 "$R/run/log.jsonl")"
[ -f "$R/run/detector.pt" ] || fail "training ended without $R/run/detector.pt"
cp "$R/run/detector.pt" "$R/hand_detector.pt.tmp" && mv "$R/hand_detector.pt.tmp" "$R/hand_detector.pt" || fail "copying the weights failed"

for w in trained shipped; do
  if [ $w = trained ]; then D=$R/hand_detector.pt; else D=$INIT; fi
  mob detect-eval "$R/test" --detector "$D" --json --device auto --threads 2 > "$R/eval_$w.json" 2> "$R/eval_$w.log" \
    || { tail -n 5 "$R/eval_$w.log" >> "$L"; fail "evaluating $D failed"; }
  log "eval $w: $(cat "$R/eval_$w.json")"
done
"$PY" - "$R" <<'PY' >> "$L" 2>&1 || fail "writing ap.json failed"
import json, sys
from pathlib import Path
r = Path(sys.argv[1])
res = {w: json.loads((r / f"eval_{w}.json").read_text()) for w in ("trained", "shipped")}
lines = (r / "run" / "log.jsonl").read_text().splitlines()
res["training"] = {"last": json.loads(lines[-1]) if lines else None, "config": json.loads((r / "run" / "config.json").read_text())}
(r / "ap.json").write_text(json.dumps(res, indent=1) + "\n")
print(f"ap50 trained {res['trained']['ap50']} shipped {res['shipped']['ap50']}")
PY
log DETECTOR_END
