# Issue 7 on a lent GPU machine, in one call: the shipped GhostStack continued on generated stills
# (made there) and the pseudo-labelled real photos (packed here by tools/device/pack_real.py into
# .gpu/, carried), with configs/mobrecon_ghoststack_gpu_real.yaml, one cosine sized so that the
# whole script ends DEADLINE seconds after it starts. Leaves in $OUT (or $R/out):
#   mobrecon_ghoststack_gpu.pt   the continued weights (fp16, the shipped format)
#   records.tgz                  run.log, the training's log.jsonl / config.yaml / wall.json, gen logs
# Here first (once):  python tools/device/pack_real.py pack --check --keep 2.6 --quality 92 && rm .gpu/*_fits.npz
# There:  run(command="DEADLINE=510 bash tools/device/real_continue.sh",
#              carry=[".gl", ".whl", ".gpu", "tools/device/x11"])   (setup.sh needs all four)
# Overrides: NU / NR / NT (generated training and validation stills), LR (peak rate), INIT (the model
# file to continue; default the shipped one), W3 / BATCH3 / PROBE / GW (workers, batch, probe steps).
# Rehearsal on a CPU: SKIP_SETUP=1 NU=64 NR=64 NT=32 BATCH3=8 W3=2 PROBE=4 DEADLINE=400 OUT=/tmp/o bash ...
set -u
T0=$SECONDS
DEADLINE=${DEADLINE:-540}
R=${R:-runs/gpu_real}
O=${OUT:-$R/out}
PY=${PYTHON:-python3}
mkdir -p "$R" "$O"
log() { echo "[$(date +%T) +$((SECONDS - T0))s] $*" | tee -a "$R/run.log"; }
finish() {
  local src=""
  for f in "$R/mobrecon_ghoststack/stage3/model.pt" "$R/mobrecon_ghoststack/stage3/last.pt"; do
    [ -f "$f" ] && { src=$f; break; }
  done
  if [ -n "$src" ]; then
    "$PY" -c "import sys; from mobrecon.models.weights import load_model, save_model; save_model(sys.argv[2], load_model(sys.argv[1]), 'mobrecon_ghoststack')" \
      "$src" "$O/mobrecon_ghoststack_gpu.pt" && log "exported $src"
  else
    log "no weights to export"
  fi
  tar czf "$O/records.tgz" --ignore-failed-read "$R"/run.log "$R"/*.log "$R"/data/sets.json \
    "$R"/mobrecon_ghoststack/stage3/{log.jsonl,config.yaml,wall.json,done.json} \
    "$R"/mobrecon_ghoststack/probe3/log.jsonl "$R"/mobrecon_ghoststack/hardware.json 2>/dev/null
  log "end"
}
trap finish EXIT

if [ -z "${SKIP_SETUP:-}" ]; then
  source tools/device/setup.sh  # exits itself when the wheels do not install
else
  export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$R/run.log"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' | tee -a "$R/run.log"

"$PY" tools/device/pack_real.py unpack --out .gpu >> "$R/run.log" 2>&1 || { log "unpack failed"; exit 1; }
log "real photos unpacked"

"$PY" tools/train_release.py --root "$R" --steps gen --uniform "${NU:-14000}" --random "${NR:-10000}" --test "${NT:-500}" \
  --video-sequences 1 --video-frames 30 --gen-workers "${GW:-16}" > "$R/gen.log" 2>&1 || { tail -5 "$R/gen.log"; log "gen failed"; exit 1; }
log "generated: $(tr -d '\n ' < "$R/data/sets.json" | head -c 400)"

# the rest of the budget: the probe (~30 s), the training, its last validation and the export (~30 s);
# the rate-based plan leaves out the epoch ends (loader restart, validation: ~5 s each), hence 0.75
left=$((DEADLINE - (SECONDS - T0)))
M=$("$PY" -c "import sys; print(round(max(0.2, 0.75 * (int(sys.argv[1]) - 60) / 60), 2))" "$left")
log "training for $M minutes"
SPEC="synth:$R/data/train_uniform=0.25,synth:$R/data/train_random=0.25,pseudo:.gpu/closeups_fits.npz=0.3,pseudo:.gpu/signers_fits.npz=0.2"
timeout -s TERM $((left - 25)) "$PY" tools/train_release.py --root "$R" --model mobrecon_ghoststack --steps stage3 \
  --config3 mobrecon_ghoststack_gpu_real --workers "${W3:-14}" --threads 2 --minutes3 "$M" --batch3 "${BATCH3:-128}" \
  --probe-steps "${PROBE:-40}" --set "data.train=$SPEC" ${LR:+--set optim.lr=$LR} ${INIT:+--init "$INIT"} > "$R/train.log" 2>&1
log "training returned $? ($(tail -1 "$R/train.log"))"
