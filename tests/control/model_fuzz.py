"""Damaged copies of model files, loaded and used one after another in a process of their own.

The model-file tests run this module as a script, so that a file that crashes or hangs the process fails its test, not
the whole test run: ``python model_fuzz.py FOLDER N IMAGE WIDTH`` damages each ``source-*`` file of FOLDER N times
(bytes or digits changed, a minus put before a number, the file cut, a stretch repeated, two lines swapped), loads
each copy with the runtime of IMAGE and predicts rows of WIDTH features. It prints each copy's name before loading it,
and at the end a JSON line counting the copies refused, loaded and failing to predict.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

_HOW = ("bytes", "bytes", "digits", "digits", "minus", "cut", "repeat", "swap")


def damaged(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    digits = [k for k, byte in enumerate(raw) if 48 <= byte <= 57] or [0]
    how = rng.choice(_HOW)
    if how == "bytes":
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "digits":
        for _ in range(rng.randint(1, 3)):
            data[rng.choice(digits)] = rng.randrange(48, 58)
    elif how == "minus":
        k = rng.choice(digits)
        data[k:k] = b"-"
    elif how == "cut":
        data = data[: rng.randrange(len(data))]
    elif how == "repeat":
        a = rng.randrange(len(data))
        b = rng.randrange(a, min(len(data), a + 100))
        data = data[:b] + data[a:b] + data[b:]
    else:
        lines = bytes(data).split(b"\n")
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[a], lines[b] = lines[b], lines[a]
        data = bytearray(b"\n".join(lines))
    return bytes(data)


def main(folder: Path, n: int, image: str, width: int) -> None:
    from openclarify.runtimes import RuntimeSpec, create_runtime

    rows = np.random.default_rng(1).standard_normal((64, width))
    outcomes = {"refused": 0, "loaded": 0, "failed to predict": 0}
    for source in sorted(folder.glob("source-*")):
        raw = source.read_bytes()
        rng = random.Random(source.name)
        for i in range(n):
            path = folder / f"damaged-{source.stem}-{i}{source.suffix}"
            path.write_bytes(damaged(raw, rng))
            print(path.name, flush=True)  # the last name printed is the file that crashed the process, if one did
            runtime = create_runtime(RuntimeSpec(image=image, model_path=path))
            outcomes[_outcome(runtime, rows)] += 1
            path.unlink()
    print(json.dumps(outcomes))


def _outcome(runtime, rows: np.ndarray) -> str:
    try:
        runtime.load()
    except Exception:
        return "refused"
    try:
        runtime.predict(rows)
    except Exception:
        return "failed to predict"
    return "loaded"


def run(folder: Path, n: int, image: str, width: int, timeout: float) -> dict[str, int]:
    """Runs ``main`` in a new process and returns its counts; AssertionError naming the file that crashed or hung it
    (kept in ``folder``)."""
    command = [sys.executable, __file__, str(folder), str(n), image, str(width)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        last = (exc.stdout or b"").decode().strip().splitlines()[-1:]
        raise AssertionError(f"{last} hung the process; kept in {folder}") from exc
    last = done.stdout.strip().splitlines()[-1:]
    assert done.returncode == 0, f"{last} crashed the process ({done.returncode}); kept in {folder}"
    return json.loads(last[0])


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
