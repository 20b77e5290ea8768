# The continuation run (stage 3) on a lent GPU machine: the training data rebuilt from its seeds,
# the shipped GhostStack trained on for M3 minutes (cosine, batch 128 x 2 views, bfloat16), scored
# on the held-out sets and written to runs/release/ship; the hand detector trains beside it when
# tools/device/detector.sh is there. Start it with setsid so that it outlives one 10-minute call;
# tools/device/collect.sh copies the results.
R=runs/release
mkdir -p $R
python3 tools/train_release.py --root $R --steps gen --gen-workers 16 > $R/gen.log 2>&1 || exit 1
if [ -f tools/device/detector.sh ]; then
  DET_MIN=${DET_MIN:-10} DET_COUNT_A=${DET_COUNT_A:-10000} DET_COUNT_B=${DET_COUNT_B:-6000} DET_GEN_WORKERS=5 \
    setsid nohup bash tools/device/detector.sh > $R/detector_pipeline.log 2>&1 &
fi
python3 tools/train_release.py --root $R --model mobrecon_ghoststack --steps stage3,eval,ship --workers ${W3:-11} \
   --threads 2 --minutes3 ${M3:-16} --batch3 128 --ship-dir $R/ship > $R/ghost.log 2>&1
echo PIPELINE_END >> $R/gen.log
