"""XGBoost models saved with ``Booster.save_model`` / ``XGBModel.save_model`` as JSON or UBJSON (data only)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from openclarify.runtimes.tabular import TabularRuntime


class XGBoostRuntime(TabularRuntime):
    kind = "XGBoost"
    extra = "xgboost"
    # xgboost-model is the name SageMaker's XGBoost container saves its model under.
    filenames = ("model.json", "model.ubj", "xgboost-model.json", "xgboost-model", "model.bst")
    hint = "Save it with Booster.save_model('model.json') or 'model.ubj'."
    input_dtype = np.float32  # XGBoost stores feature values in single precision

    def _load(self, path: Path) -> None:
        import xgboost

        if _read_as_ubjson(path):
            # XGBoost's UBJSON reader trusts the lengths written in the file: a truncated or damaged file makes it
            # allocate gigabytes, or crash the whole server (SIGSEGV, or std::terminate on bad_alloc). Checked here
            # first, every length fits in the file, so the reader never goes past its end.
            check_ubjson(path.read_bytes())
        booster = xgboost.Booster()
        booster.load_model(str(path))
        self._booster = booster
        self._xgb = xgboost
        self.n_features = booster.num_features() or None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # binary:logistic answers (n,), multi:softprob (n, k): the same scores SageMaker's container returns.
        # inplace_predict skips building a DMatrix per call (a large share of the time on the explainer's many
        # synthetic rows) and gives the same numbers; it is also safe to call from several threads at once.
        return self._booster.inplace_predict(X)


def _read_as_ubjson(path: Path) -> bool:
    """Whether ``Booster.load_model`` reads ``path`` as UBJSON: by its extension, else by XGBoost's guess (JSON when
    the byte after the opening ``{`` and any whitespace is a quote)."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".ubj"):
        return suffix == ".ubj"
    with path.open("rb") as f:
        head = f.read(64)
    return not head[1:].lstrip().startswith(b'"')


_INTEGERS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_SIZES = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8, b"d": 4, b"D": 8, b"C": 1}
_MAX_DEPTH = 64  # XGBoost's own models nest 6 deep


class _UBJson:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def skip(self, n: int) -> None:
        if n > len(self.data) - self.pos:
            raise ValueError("the file ends inside a value")
        self.pos += n

    def marker(self) -> bytes:
        self.skip(1)
        return self.data[self.pos - 1 : self.pos]

    def peek(self) -> bytes:
        return self.data[self.pos : self.pos + 1]

    def length(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        fmt = _INTEGERS.get(marker)
        if fmt is None:
            raise ValueError("a length is not an integer")
        self.skip(_SIZES[marker])
        (n,) = struct.unpack_from(fmt, self.data, self.pos - _SIZES[marker])
        if n < 0 or n > len(self.data) - self.pos:
            raise ValueError("a length runs past the end of the file")
        return n

    def value(self, marker: bytes, depth: int) -> None:
        if marker in (b"Z", b"N", b"T", b"F"):
            return
        if marker in _SIZES:
            self.skip(_SIZES[marker])
        elif marker in (b"S", b"H"):
            self.skip(self.length())
        elif marker in (b"[", b"{"):
            self.container(marker == b"{", depth + 1)
        else:
            raise ValueError("an unknown value marker")

    def container(self, is_object: bool, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ValueError("values nest too deeply")
        item_type = None
        if self.peek() == b"$":
            self.skip(1)
            item_type = self.marker()
            # A type of no size (null, true, false) would let a count claim any number of items without bytes.
            if item_type not in (*_SIZES, b"S", b"H", b"[", b"{") or self.peek() != b"#":
                raise ValueError("a typed container without a usable type and count")
        if self.peek() == b"#":
            self.skip(1)
            count = self.length()
            if item_type in _SIZES and not is_object:
                self.skip(count * _SIZES[item_type])
                return
            for _ in range(count):
                if is_object:
                    self.skip(self.length())
                self.value(item_type or self.marker(), depth)
            return
        end = b"}" if is_object else b"]"
        while (marker := self.marker()) != end:
            if is_object:
                self.skip(self.length(marker))
                marker = self.marker()
            self.value(marker, depth)


def check_ubjson(data: bytes) -> None:
    """Raise ValueError unless ``data`` is one complete UBJSON value, every length within the file."""
    reader = _UBJson(data)
    reader.value(reader.marker(), 0)
    if reader.pos != len(data):
        raise ValueError("bytes after the model")
