"""The training loop behind ``mobrecon train``: both stages of the recipe, exact resume,
checkpoints on a signal, a JSONL log of every loss term, and DDP under ``torchrun``.

Determinism: the order of samples in epoch ``e`` is a permutation drawn from ``(seed, e)``,
and each sample's augmentation from ``(seed, e, index)``, so the data a run sees does not
depend on worker processes, and a resumed run (which skips the batches of the epoch already
done) sees exactly what the uninterrupted run would have.

Run directory: ``config.yaml`` (the settings), ``last.pt`` (checkpoint: every
``checkpoint_every`` steps, at each epoch end, on SIGINT/SIGTERM and at the end),
``log.jsonl`` (one line per ``log_every`` steps with every weighted loss term, plus a line per
validation), ``model.pt`` (the final weights, float16, see :mod:`mobrecon.models.weights`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from mobrecon.data.mixed import open_dataset, open_mixture
from mobrecon.data.transform import TrainTransform
from mobrecon.eval.evaluate import evaluate
from mobrecon.io_utils import atomic_write_text, folder_lock
from mobrecon.models import build
from mobrecon.models.weights import FORMAT as MODEL_FORMAT, fill_module, read_blob, save_model
from mobrecon.train.checkpoint import as_checkpoint, load_checkpoint, save_checkpoint, set_rng_states
from mobrecon.train.config import TrainConfig, to_dict
from mobrecon.train.losses import mesh_recon_losses, pose2d_pretrain_losses
from mobrecon.train.pose2d_pretrain import Pose2DPretrainNet, load_stage1
from mobrecon.train.precise_bn import recompute_batchnorm
from mobrecon.train.schedule import build_scheduler
from mobrecon.train.stop import StopFlag


class AugmentedSet(Dataset):
    """``base[i]`` through a random transform whose generator is seeded by (seed, epoch, i)."""

    def __init__(self, base: Dataset, transform, seed: int):
        self.base, self.transform, self.seed, self.epoch = base, transform, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        return self.transform(self.base[i], rng)


class EpochSampler(Sampler):
    """Indices of one epoch for one process: a permutation of ``n`` drawn from (seed, epoch),
    this rank's share (``rank::world``), cut to ``steps`` whole batches, the first ``skip``
    batches left out (they were done before a resume)."""

    def __init__(self, n: int, batch: int, steps: int, seed: int, epoch: int, skip: int = 0,
                 rank: int = 0, world: int = 1):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g)[rank::world]
        self.idx = perm[skip * batch: steps * batch].tolist()

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


def steps_per_epoch(n: int, cfg: TrainConfig, world: int) -> int:
    steps = (n // world) // cfg.batch_size
    if steps < 1:
        raise ValueError(f"the training set has {n} samples, fewer than one batch of {cfg.batch_size} per process")
    return min(steps, cfg.epoch_steps) if cfg.epoch_steps else steps


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _net_images(batch: dict, cfg: TrainConfig) -> torch.Tensor:
    """A batch's images as the network takes them: (B*views, 3, S, S), view-major within a
    sample, in NHWC memory order with ``channels_last``."""
    img = batch["image"].flatten(0, 1)
    return img.contiguous(memory_format=torch.channels_last) if cfg.channels_last else img


def build_net(cfg: TrainConfig):
    """(full model, the network the stage trains)."""
    model = build(cfg.model, hand=cfg.hand)
    return model, (Pose2DPretrainNet(model) if cfg.stage == "pose2d" else model)


def _init_from(path: str, cfg: TrainConfig, model, net) -> str:
    blob = read_blob(Path(path), "init")
    if isinstance(blob, dict) and blob.get("format") == MODEL_FORMAT:  # a model file: continue it
        if cfg.stage != "mesh":
            raise ValueError(f"{path}: a model file can start a 'mesh' run only, not a {cfg.stage!r} run")
        fill_module(model, blob["state"], path, f"model {cfg.model}")
        return f"weights from model file {path}"
    ck = as_checkpoint(blob, path)
    if ck.get("stage") == "pose2d" and cfg.stage == "mesh":
        load_stage1(model, ck["model"])
        return f"encoder and 2D head from stage-1 checkpoint {path}"
    if ck.get("stage") != cfg.stage:
        raise ValueError(f"{path}: a {ck.get('stage')!r} checkpoint cannot start a {cfg.stage!r} run")
    net.load_state_dict(ck["model"])
    return f"weights from {path}"


def train(cfg: TrainConfig, out: str | os.PathLike, resume: bool = False, progress: bool = True,
          dataset: Dataset | None = None) -> dict:
    """Run (or continue) training into directory ``out``; returns a summary dict with
    ``status`` ('done' | 'interrupted' | 'max_steps'), ``step``, ``epoch`` and file paths.
    ``model.pt`` is written when the run is done or reaches ``max_steps``, not when it was
    interrupted (``last.pt`` holds that state; ``--resume`` finishes it). The main process
    holds ``out``'s folder lock, so a second run into the same folder is refused.

    ``dataset`` (a sample-dict Dataset) replaces ``cfg.data.train`` if given.
    """
    cfg.check()
    if _dist_env()[0] != 0:
        return _train(cfg, Path(out), resume, progress, dataset)
    with folder_lock(out, "training run"):
        return _train(cfg, Path(out), resume, progress, dataset)


def _drop_stale_temps(out: Path) -> None:
    """Remove the temp files of checkpoint / model writes that a killed run left (the folder
    lock is held, so no other run is writing them)."""
    for pattern in (".last.pt.*", ".model.pt.*"):
        for p in out.glob(pattern):
            p.unlink(missing_ok=True)


def _trim_log(log: Path, step: int) -> None:
    """Drop the log lines of steps after ``step``: a resumed run does those steps again (from
    the last checkpoint), and they would otherwise appear twice."""
    if not log.is_file():
        return
    keep = []
    for line in log.read_text().splitlines():
        try:
            rec_step = json.loads(line).get("step", 0)
        except (ValueError, AttributeError):
            continue  # a line cut short by a kill
        if rec_step <= step:
            keep.append(line)
    atomic_write_text(log, "".join(f"{line}\n" for line in keep))


def _train(cfg: TrainConfig, out: Path, resume: bool, progress: bool, dataset: Dataset | None) -> dict:
    rank, world, local_rank = _dist_env()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    last = out / "last.pt"
    if last.exists() and not resume:
        raise ValueError(f"{out}: already holds a run (last.pt); pass --resume to continue it or choose another --out")
    if resume and not last.exists():
        raise FileNotFoundError(f"{last}: nothing to resume")

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    model, net = build_net(cfg)
    net.to(device)
    optim = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    step, epoch, done_in_epoch, note = 0, 0, 0, ""
    if resume:
        ck = load_checkpoint(last)
        if ck.get("stage") != cfg.stage or ck.get("model_name") != cfg.model:
            raise ValueError(f"{last}: holds a {ck.get('stage')} run of {ck.get('model_name')}, "
                             f"not this config's {cfg.stage} run of {cfg.model}")
        net.load_state_dict(ck["model"])
        optim.load_state_dict(ck["optimizer"])
        step, epoch, done_in_epoch = ck["step"], ck["epoch"], ck["epoch_batch"]
        set_rng_states(ck["rng"])
        note = f"resumed at step {step} (epoch {epoch}, batch {done_in_epoch})"
    elif cfg.init:
        note = _init_from(cfg.init, cfg, model, net)

    if dataset is None:
        if not cfg.data.train:
            raise ValueError("no training data: set data.train in the config or pass --data")
        dataset = open_mixture(cfg.data.train)
    data = AugmentedSet(dataset, TrainTransform(cfg.augment), cfg.seed)
    n_steps = steps_per_epoch(len(data), cfg, world)
    sched, per_batch = build_scheduler(optim, cfg.optim, cfg.epochs * n_steps)
    if resume:
        sched.load_state_dict(ck["scheduler"])
    amp = cfg.amp  # bfloat16 autocast: CUDA, or a CPU with bf16 instructions (AVX512-BF16, AMX)
    views, size = cfg.augment.views, cfg.augment.size
    faces = model.faces.to(device)
    n_verts = int(model.J_regressor.shape[1])
    if cfg.compile and cfg.compile not in torch._dynamo.list_backends(exclude_tags=()):
        raise ValueError(f"compile: unknown torch.compile backend {cfg.compile!r}; known: "
                         f"{', '.join(torch._dynamo.list_backends(exclude_tags=()))}")
    if cfg.channels_last:
        net.to(memory_format=torch.channels_last)
    ddp = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    forward = torch.compile(ddp, backend=cfg.compile) if cfg.compile else ddp  # same parameters as net

    main = rank == 0
    log_fh = None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        _drop_stale_temps(out)
        if not resume:
            (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        else:
            _trim_log(out / "log.jsonl", step)
        log_fh = open(out / "log.jsonl", "a")
        if note:
            log_fh.write(json.dumps({"step": step, "event": note}) + "\n")

    def checkpoint():
        if main:
            save_checkpoint(last, {
                "stage": cfg.stage, "model_name": cfg.model, "model_config": dataclasses.asdict(model.cfg),
                "config": to_dict(cfg), "model": net.state_dict(), "optimizer": optim.state_dict(),
                "scheduler": sched.state_dict(), "step": step, "epoch": epoch, "epoch_batch": done_in_epoch})

    def stop_requested(flag: bool) -> bool:
        if world > 1:
            t = torch.tensor([float(flag)], device=device)
            dist.all_reduce(t)
            return bool(t.item() > 0)
        return flag

    val_set = None
    if main and cfg.data.val and cfg.stage == "mesh":  # opened once, scored at each epoch end
        val_set = open_dataset(cfg.data.val)
    bar = None
    if main and progress:
        total = cfg.epochs * n_steps if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * n_steps)
        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    status = "done"
    t_last, seen = time.perf_counter(), 0
    net.train()
    with StopFlag() as stop:
        while epoch < cfg.epochs and status == "done":
            data.set_epoch(epoch)
            sampler = EpochSampler(len(data), cfg.batch_size, n_steps, cfg.seed, epoch, done_in_epoch, rank, world)
            loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.data.workers,
                                drop_last=True, pin_memory=device.type == "cuda")
            for batch in loader:
                if cfg.stage == "mesh" and batch["vertices"].shape[2] != n_verts:
                    raise ValueError(f"the data's meshes have {batch['vertices'].shape[2]} vertices but the model's "
                                     f"hand ({cfg.hand}) has {n_verts}: train with the data's hand model")
                batch = _to_device(batch, device)
                img = _net_images(batch, cfg)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    pred = forward(img)
                if amp:  # the losses in float32
                    pred = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in pred.items()}
                if cfg.stage == "mesh":
                    terms = mesh_recon_losses(pred, batch, faces, cfg.loss, views, size)
                else:
                    terms = pose2d_pretrain_losses(pred, batch, cfg.loss, views, size)
                optim.zero_grad(set_to_none=True)
                terms["total"].backward()
                lr = optim.param_groups[0]["lr"]  # this step's
                optim.step()
                if per_batch:
                    sched.step()
                step += 1
                done_in_epoch += 1
                seen += img.shape[0] // views
                if not math.isfinite(terms["total"].item()):
                    checkpoint()
                    raise FloatingPointError(f"loss became {terms['total'].item()} at step {step}; "
                                             f"last good state in {last}")
                if main and (step % cfg.log_every == 0 or step == 1):
                    now = time.perf_counter()
                    rec = {"step": step, "epoch": epoch, "lr": lr,
                           **{k: round(v.item(), 6) for k, v in terms.items()},
                           "samples_per_s": round(seen * world / max(now - t_last, 1e-9), 2)}
                    log_fh.write(json.dumps(rec) + "\n")
                    log_fh.flush()
                    t_last, seen = now, 0
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['total'].item():.4f}", epoch=epoch)
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    checkpoint()
                if stop_requested(stop.raised):
                    status = "interrupted"
                    break
                if cfg.max_steps and step >= cfg.max_steps:
                    status = "max_steps"
                    break
            if status != "done":
                break
            if not per_batch:
                sched.step()
            epoch += 1
            done_in_epoch = 0
            checkpoint()
            if val_set is not None and (epoch % cfg.data.val_every == 0 or epoch == cfg.epochs):
                rec = validate(model, val_set, cfg)
                log_fh.write(json.dumps({"step": step, "epoch": epoch, "val": rec}) + "\n")
                log_fh.flush()
                net.train()
    if status != "done":
        checkpoint()
    result = {"status": status, "step": step, "epoch": epoch, "checkpoint": str(last)}
    if main:
        if bar is not None:
            bar.close()
        if cfg.stage == "mesh" and status != "interrupted" and cfg.precise_bn:
            # last.pt keeps the training's own statistics (a resume goes on from them); model.pt
            # gets the averaged ones
            data.set_epoch(cfg.epochs)  # augmentation draws of an epoch after the last
            sampler = EpochSampler(len(data), cfg.batch_size, min(cfg.precise_bn, n_steps), cfg.seed, cfg.epochs,
                                   0, 0, 1)
            loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.data.workers,
                                drop_last=True)

            def run_batch(x):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    return model(x.to(device))

            n_bn = recompute_batchnorm(model, (_net_images(b, cfg) for b in loader), run_batch)
            rec = {"step": step, "event": f"BatchNorm statistics averaged over {n_bn} batches (precise_bn)"}
            if val_set is not None:
                rec["val"] = validate(model, val_set, cfg)
            log_fh.write(json.dumps(rec) + "\n")
        if cfg.stage == "mesh" and status != "interrupted":
            result["model"] = str(save_model(out / "model.pt", model, cfg.model,
                                             meta={"steps": step, "epochs": epoch, "data": cfg.data.train}))
        log_fh.write(json.dumps({"step": step, "event": status}) + "\n")
        log_fh.close()
    if world > 1:
        dist.barrier()
    return result


def validate(model, val_set: Dataset, cfg: TrainConfig) -> dict:
    """Score the model on the validation set (its first ``cfg.data.val_count`` samples)."""
    return evaluate(model, val_set, count=cfg.data.val_count or None, batch_size=cfg.batch_size, progress=False)
