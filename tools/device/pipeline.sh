# The release run: data, then GhostStack and DenseStack side by side on one GPU (started
# with setsid so that it outlives one 10-minute call; tools/device/collect.sh copies results).
R=runs/release
mkdir -p $R
python3 tools/train_release.py --root $R --steps gen --gen-workers 16 > $R/gen.log 2>&1 || exit 1
python3 tools/train_release.py --root $R --model mobrecon_ghoststack --steps stage1,stage2,eval,ship --workers 8 --threads 2 \
   --minutes1 ${M1:-3.5} --minutes2 ${M2:-9} --batch2 64 --ship-dir $R/ship > $R/ghost.log 2>&1 &
python3 tools/train_release.py --root $R --model mobrecon_densestack --steps stage1,stage2,eval,ship --workers 6 --threads 2 \
   --minutes1 ${M1:-3.5} --minutes2 ${M2:-9} --batch2 64 --ship-dir $R/ship > $R/dense.log 2>&1 &
wait
echo PIPELINE_END >> $R/gen.log
