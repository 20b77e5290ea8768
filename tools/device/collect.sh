# copy what matters to $OUT (8 files max): one tar of logs/records, shipped weights, fp16 snapshots
R=runs/release
tar czf $OUT/records.tgz --ignore-failed-read $R/*.log $R/data/sets.json $R/data/*/summary.json \
   $R/mobrecon_*/metrics.json $R/mobrecon_*/hardware.json $R/mobrecon_*/stage*/log.jsonl $R/mobrecon_*/stage*/done.json \
   $R/mobrecon_*/stage*/wall.json $R/mobrecon_*/stage*/config.yaml $R/mobrecon_*/probe*/log.jsonl \
   runs/det/*.log runs/det/*.json runs/det/*/log.jsonl runs/det/*/config.json 2>/dev/null
cp $R/ship/*.pt $OUT/ 2>/dev/null
cp runs/det/hand_detector.pt $OUT/ 2>/dev/null
for m in mobrecon_ghoststack mobrecon_densestack; do
  for s in stage3 stage2; do
    if [ ! -f $R/ship/$m.pt ] && [ -f $R/$m/$s/last.pt ]; then
      python3 -c "import sys; from mobrecon.models.weights import load_model, save_model; save_model(sys.argv[2], load_model(sys.argv[1]), sys.argv[3])" $R/$m/$s/last.pt $OUT/snap_$m.pt $m
      break
    fi
  done
done
ls -la $OUT
