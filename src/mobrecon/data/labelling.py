"""Label images with the teacher: cached by file sha1, resumable, written atomically.

:func:`label_images` runs a teacher (anything with ``teacher``, ``names`` and ``label(path)``,
normally :class:`mobrecon.data.teacher_process.TeacherProcess`) over image files and writes a
labels file (:mod:`mobrecon.data.teacher_labels`). While it runs, the images done so far are saved
every ``save_every`` images to ``NAME.partial.npz`` beside the output (atomically); the output
itself appears only when every image is done, and the partial file is then removed. A rerun
reads the partial file (or an existing output) and labels only the images whose sha1 it does
not already hold; a file made from other images, or with another teacher setting, is refused.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from mobrecon.data.mediapipe_hands import BOX_WIDEN, convert_hands, empty_hands, inside_set_boxes, largest, select
from mobrecon.data.teacher_labels import (STATUS_LABELLED, STATUS_UNREADABLE, ImageRecord, TeacherLabels, assemble,
                                          load_labels, save_labels)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class LabelsMismatch(ValueError):
    """An existing labels / partial file does not belong to these images or this teacher."""


def partial_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".partial" + out.suffix)


def collect_images(inputs: Sequence[str | Path]) -> tuple[Path, list[Path]]:
    """(root, files): image files given directly or found (recursively) in folders, deduplicated in
    order, and their common parent folder. FileNotFoundError / ValueError name the bad input."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ValueError(f"{p}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    files = list(dict.fromkeys(f.resolve() for f in files))
    if not files:
        raise ValueError("no images given")
    return common_root(files), files


def common_root(files: Sequence[Path]) -> Path:
    parents = [Path(f).resolve().parent for f in files]
    root = parents[0]
    while not all(p == root or root in p.parents for p in parents):
        root = root.parent
    return root


def sha1_file(path: Path) -> str | None:
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def describe(teacher: str, widen: float | None, one_hand: bool = False) -> str:
    """The ``teacher`` string stored in the file: the teacher's settings and the keep rule if any."""
    return teacher + (f" keep=nearest-in-set-box(widen={widen:g})" if widen is not None else "") + \
        (" keep=largest-hand" if one_hand else "")


def previous_labels(out: Path, root: Path, files: Sequence[Path], teacher: str | None = None,
                    sha1: Sequence[str | None] | None = None) -> TeacherLabels | None:
    """The partial or finished file to resume from (None if neither exists), checked against these
    images (same root, no file whose bytes changed) and, if given, this ``teacher`` description.
    Raises :class:`LabelsMismatch` naming the file and what differs."""
    root = Path(root).resolve()
    rel = [Path(f).resolve().relative_to(root).as_posix() for f in files]
    sha1 = [sha1_file(f) for f in files] if sha1 is None else sha1
    for path in (partial_path(out), Path(out)):
        if not path.is_file():
            continue
        try:
            prev = load_labels(path)
        except ValueError as e:
            raise LabelsMismatch(f"{e}; remove it or choose another --out") from None
        if Path(str(prev.arrays["root"])) != root:
            raise LabelsMismatch(f"{path}: labels of images under {prev.arrays['root']}, not {root} "
                                 "(another image set?); remove it or choose another --out")
        ours = dict(zip(rel, sha1))
        theirs = dict(zip((str(f) for f in prev.files), (str(s) for s in prev.arrays["sha1"])))
        changed = [f for f, s in theirs.items() if f in ours and ours[f] is not None and ours[f] != s]
        if changed:
            raise LabelsMismatch(f"{path}: made from other images ({root / changed[0]} has another sha1, "
                                 f"{len(changed)} file(s) differ); remove it or choose another --out")
        if teacher is not None and prev.teacher != teacher:
            raise LabelsMismatch(f"{path}: made with another teacher setting ({prev.teacher!r}, now {teacher!r}); "
                                 "remove it or choose another --out")
        return prev
    return None


def label_images(files: Sequence[Path], root: Path, out: Path, teacher, boxes_of: Callable | None = None,
                 widen: float = BOX_WIDEN, one_hand: bool = False, save_every: int = 100, progress: bool = True,
                 report: Callable[[str], None] | None = None) -> dict:
    """Label ``files`` (under ``root``) with ``teacher`` into the labels file ``out``.

    Args:
        boxes_of: for sets with their own hand boxes, ``boxes_of(k, width, height)`` -> (B, 4)
            pixel boxes of file ``k``; then only the hands :func:`inside_set_boxes` keeps are stored.
        one_hand: for sets of one hand per photo: keep only the hand with the largest box (:func:`largest`).
        save_every: save the partial file after this many newly labelled images.
        report: called with one line per unreadable image (default: written to stderr).

    Returns a summary: ``images``, ``with_hand``, ``no_hand``, ``unreadable`` (list of paths),
    ``hands``, ``left``, ``right``, ``dropped`` (by the keep rules, this run), ``new``, ``reused``,
    ``seconds``, ``images_with_two_hands``, ``mean_score``.
    """
    out, root = Path(out), Path(root).resolve()
    say = report or (lambda line: tqdm.write(line, file=sys.stderr))
    t0 = time.perf_counter()
    rel = [Path(f).resolve().relative_to(root).as_posix() for f in files]
    sha1 = [sha1_file(f) for f in files]
    desc = describe(teacher.teacher, widen if boxes_of is not None else None, one_hand)
    prev = previous_labels(out, root, files, desc, sha1)
    cache: dict[str, ImageRecord] = {}
    if prev is not None:
        for r in prev.records():
            if r.sha1:
                cache.setdefault(r.sha1, r)
    records: list[ImageRecord | None] = [None] * len(files)
    new = reused = dropped = 0
    unreadable: list[str] = []

    def save_partial() -> None:  # what is done now, plus what the previous file held and is not redone yet
        done = [r for r in records if r is not None]
        seen = {r.sha1 for r in done}
        save_labels(partial_path(out), assemble(done + [r for r in cache.values() if r.sha1 not in seen], desc, root))

    bar = tqdm(total=len(files), unit="image", disable=not progress)
    try:
        since_save = 0
        for k, f in enumerate(files):
            if sha1[k] is not None and sha1[k] in cache:
                c = cache[sha1[k]]
                records[k] = ImageRecord(rel[k], c.sha1, c.size, c.status, c.hands)
                reused += 1
            else:
                raw = teacher.label(f) if sha1[k] is not None else {"ok": False, "error": "cannot read the file"}
                if raw.get("ok"):
                    hands = convert_hands(raw, teacher.names)
                    if boxes_of is not None:
                        keep = inside_set_boxes(hands["box"], boxes_of(k, raw["width"], raw["height"]))
                        dropped += len(hands["hand"]) - len(keep)
                        hands = select(hands, keep)
                    if one_hand:
                        keep = largest(hands["box"])
                        dropped += len(hands["hand"]) - len(keep)
                        hands = select(hands, keep)
                    records[k] = ImageRecord(rel[k], sha1[k], (int(raw["width"]), int(raw["height"])),
                                             STATUS_LABELLED, hands)
                else:
                    records[k] = ImageRecord(rel[k], sha1[k] or "", (0, 0), STATUS_UNREADABLE, empty_hands())
                new += 1
                since_save += 1
                if since_save >= save_every:
                    save_partial()
                    since_save = 0
            if records[k].status == STATUS_UNREADABLE:
                unreadable.append(str(f))
                say(f"{f}: unreadable image (recorded with status -1)")
            bar.update(1)
    except BaseException:
        if new:
            save_partial()
        raise
    finally:
        bar.close()
    final = assemble(records, desc, root)
    save_labels(out, final)
    partial_path(out).unlink(missing_ok=True)
    a = final.arrays
    return {"images": len(files), "with_hand": int(((a["status"] == STATUS_LABELLED) & (a["n_hands"] > 0)).sum()),
            "no_hand": int(((a["status"] == STATUS_LABELLED) & (a["n_hands"] == 0)).sum()),
            "unreadable": unreadable, "hands": int(len(a["hand"])), "left": int((a["hand"] == "left").sum()),
            "right": int((a["hand"] == "right").sum()), "dropped": dropped, "new": new,
            "reused": reused, "seconds": round(time.perf_counter() - t0, 1),
            "images_with_two_hands": int((a["n_hands"] >= 2).sum()), "mean_score": float(np.mean(a["score"]))
            if len(a["score"]) else None}
