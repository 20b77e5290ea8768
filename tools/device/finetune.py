"""A time-boxed continuation of stage 2 on a GPU: the shipped GhostStack was stage 2 of
tools/train_release.py plus this run (95 s, cosine lr 3e-4 -> 1e-5, batch 64 x 2 views).

    python tools/device/finetune.py DATA_ROOT IN.pt OUT.pt MODEL_NAME SECONDS
"""
import time, sys, math, cv2, torch
cv2.setNumThreads(1)
from torch.utils.data import DataLoader
from mobrecon.data.mixed import open_mixture
from mobrecon.data.transform import TrainTransform, AugmentConfig
from mobrecon.train.trainer import AugmentedSet, _to_device
from mobrecon.train.losses import mesh_recon_losses, LossWeights
from mobrecon.models.weights import load_model, save_model
root, src, out, name, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
torch.backends.cudnn.benchmark = True
meta = torch.load(src, weights_only=True)["meta"]
m = load_model(src).float().cuda().train()
faces = m.faces.cuda()
ds = open_mixture(f"synth:{root}/data/train_uniform=0.5,synth:{root}/data/train_random=0.5")
a = AugmentedSet(ds, TrainTransform(AugmentConfig(views=2)), 7)
opt = torch.optim.Adam(m.parameters(), lr=3e-4)
w = LossWeights()
t0 = time.perf_counter(); step = seen = ep = 0; done = False
while not done:
    a.set_epoch(ep)
    dl = DataLoader(a, batch_size=64, shuffle=True, num_workers=14, pin_memory=True, drop_last=True)
    for b in dl:
        frac = (time.perf_counter() - t0) / seconds
        if frac >= 1:
            done = True; break
        lr = 1e-5 + 0.5 * (3e-4 - 1e-5) * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups: g["lr"] = lr
        b = _to_device(b, torch.device("cuda"))
        t = mesh_recon_losses(m(b["image"].flatten(0, 1)), b, faces, w, 2, 128)
        opt.zero_grad(set_to_none=True); t["total"].backward(); opt.step()
        step += 1; seen += 64
        if step % 200 == 0:
            print(step, round(time.perf_counter() - t0), f"{seen / (time.perf_counter() - t0):.0f}/s", round(t["total"].item(), 4), f"lr {lr:.2e}", flush=True)
    ep += 1
el = time.perf_counter() - t0
meta["release"]["finetune"] = {"seconds": round(el, 1), "steps": step, "batch_size": 64, "samples": seen,
    "lr": "cosine 3e-4 -> 1e-5 over the time budget", "data": {"train_uniform": 16000, "train_random": 4000}}
save_model(out, m.eval(), name, meta=meta)
print("saved", out, step, "steps", round(el), "s", flush=True)
