"""Shared logic of the built-in (in-process) runtimes: model lookup, text codecs, and ``invoke``.

Wire format of the built-in runtimes (documented in docs/runtimes.md too). It follows SageMaker's built-in
XGBoost container, the closest thing to a common convention among the framework containers:

Request ``Content-Type``
    ``text/csv`` (also the default when absent): one record per line, numbers separated by commas, no header.
    ``application/jsonlines``: one record per line, either a JSON array of numbers or ``{"features": [...]}``.
Response ``Accept``
    absent or ``*/*``: the request's content type.
    ``text/csv``: one line per record; a single score as a number, several scores comma-separated.
    ``application/jsonlines``: one line per record, ``{"score": 0.43}`` or ``{"score": [0.1, 0.6, 0.3]}``.
    ``application/json``: ``{"predictions": [{"score": 0.43}, ...]}``.
Text (scikit-learn only, ``accepts_text``)
    a cell that is not a number is kept as a string: CSV is then read as RFC 4180 (quoted fields may hold commas,
    doubled quotes and newlines), JSON Lines strings stay strings, and ``predict`` receives an ``(n, d)`` object
    array (numbers as float, text as str). A body of numbers only still gives a float64 array.
Scores
    classifiers answer probabilities; a binary classifier answers the positive-class probability only (like
    XGBoost's ``binary:logistic``), a multiclass one one column per class; regressors answer the prediction.

Errors answer as the container would, wrapped by SageMaker as ``ModelError`` with the container status:
415 for an unsupported content type or accept, 400 for a body that does not parse or has the wrong width, and for a
``ValueError`` the model raises on the records (scikit-learn's own input checks); 500 for any other exception
raised inside the model's code, as a framework container answers an exception in its ``predict_fn``. Only the call
into the model's library is guarded that way (``_predict``): an exception in this module's own code stays an
exception, which the server reports as the internal failure it is.
"""

from __future__ import annotations

import abc
import csv
import io
import json
import math
from pathlib import Path

import anyio.to_thread
import numpy as np

from openclarify.errors import ModelError
from openclarify.runtimes.base import InvokeResult, ModelLoadError, Runtime

CSV = "text/csv"
JSONLINES = "application/jsonlines"
JSON = "application/json"
_ACCEPTS = (CSV, JSONLINES, JSON)


def _media_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


class TabularRuntime(Runtime):
    """Base of the in-process runtimes. Subclasses implement ``_load(path)`` and ``_predict(X)``."""

    kind: str = "model"
    """Human name used in error messages, e.g. "XGBoost"."""
    filenames: tuple[str, ...] = ()
    """Artifact names looked for when ModelDataUrl is a directory, in order."""
    hint: str = ""
    """How to produce a valid artifact; appended to load errors."""
    extra: str = "all"
    """The extra that installs the library (``pip install 'openclarify[xgboost]'``), named when it is missing."""

    n_features: int | None = None
    accepts_text: bool = False
    """Whether records may hold text cells (then ``predict`` may get an object array)."""
    input_dtype: type = np.float64
    """The precision the model computes in. Rows already in it are handed over as they are; the explainer builds its
    synthetic rows in it (a model that casts to single precision sees the same values from half the memory)."""

    def load(self) -> None:
        path = self._artifact()
        try:
            if _is_archive(path):
                raise ModelLoadError(
                    "ModelDataUrl is a tar or gzip archive (such as SageMaker's model.tar.gz), which this server does"
                    " not unpack. Unpack it (tar -xzf model.tar.gz -C model/) and point ModelDataUrl at that directory"
                    " or at the model file in it."
                )
            self._load(path)
        except ModelLoadError:
            raise
        except (
            ModuleNotFoundError
        ) as exc:  # the library, not the file: "not a valid model" would send the user after it
            raise ModelLoadError(
                f"This server cannot load {self.kind} models: the Python package {exc.name!r} is not installed. "
                f"Install it (pip install 'openclarify[{self.extra}]' installs what {self.kind} models need) and "
                "restart the server."
            ) from exc
        except Exception as exc:  # the library's message may quote file bytes: keep it out of the answer
            raise ModelLoadError(f"ModelDataUrl is not a valid {self.kind} model. {self.hint}".strip()) from exc

    def _artifact(self) -> Path:
        path = self.spec.model_path
        if path is None:
            raise ModelLoadError(f"{self.kind} models need a ModelDataUrl.")
        if path.is_dir():
            for name in self.filenames:
                if (path / name).is_file():
                    return path / name
            looked_for = ", ".join(self.filenames)
            raise ModelLoadError(f"ModelDataUrl is a directory without a {self.kind} model file ({looked_for}).")
        if not path.is_file():
            raise ModelLoadError("ModelDataUrl does not exist.")
        return path

    @abc.abstractmethod
    def _load(self, path: Path) -> None: ...

    @abc.abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """The call into the model's library and nothing else: whatever it raises is the model's failure."""

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the model takes it (checked records in); a hook for runtimes that reshape it."""
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``X``. Raises ValueError for records of the wrong shape, and ModelError when the
        model's own code fails on them (see the module doc)."""
        X = np.asarray(X)
        if not (self.accepts_text and X.dtype == object) and X.dtype != self.input_dtype:
            X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array of records, got shape {X.shape}")
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise ValueError(f"the model expects {self.n_features} features per record, got {X.shape[1]}")
        X = self._model_input(X)
        try:
            raw = self._predict(X)
        except Exception as exc:  # the user's model (a pipeline, a booster) raised: its failure, not the server's
            raise model_failure(exc) from exc
        scores = np.asarray(raw)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        return scores

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        # Decoding and encoding are CPU work too: all of it goes to a worker thread, in one hop.
        return await anyio.to_thread.run_sync(self.invoke_blocking, body, content_type, accept, custom_attributes)

    def invoke_blocking(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        """``invoke`` for a caller already off the event loop (the explanation pipeline's worker thread): the same
        answer without handing the work to another thread and back."""
        ctype, out_type = answer_types(content_type, accept)
        return _answer(self, decode_records(body, ctype, text=self.accepts_text), out_type)


def _is_archive(path: Path) -> bool:
    """A gzip file (``1f 8b``) or a POSIX tar (``ustar`` at byte 257): not a model any built-in runtime reads, and
    the library's own error would only say the file is not a valid model."""
    with path.open("rb") as f:
        head = f.read(262)
    return head.startswith(b"\x1f\x8b") or head[257:262] == b"ustar"


def answer_types(content_type: str | None, accept: str | None) -> tuple[str, str]:
    """The request's and the answer's media types, or the 415 the container answers."""
    ctype = _media_type(content_type) or CSV
    if ctype not in (CSV, JSONLINES):
        raise _client_error(415, f"Content type {ctype} is not supported by this model; use {CSV} or {JSONLINES}.")
    out_type = _media_type(accept)
    if out_type in (None, "*/*"):
        out_type = ctype
    if out_type not in _ACCEPTS:
        raise _client_error(415, f"Accept type {out_type} is not supported; use one of {', '.join(_ACCEPTS)}.")
    return ctype, out_type


def invoke_table(runtime: Runtime, X: np.ndarray, content_type: str | None, accept: str | None) -> InvokeResult:
    """What an in-process runtime answers for records the caller has already decoded and typed, for example with an
    endpoint's FeatureTypes (``X`` as ``clarify.text.model_table`` builds it): the body ``invoke`` would answer,
    from ``runtime.predict``. Blocking. The body's own decoding cannot know which columns are text, so a text cell
    that spells a number (``"10"``) would reach the model as a float there."""
    _, out_type = answer_types(content_type, accept)
    return _answer(runtime, X, out_type)


def _answer(runtime: Runtime, X: np.ndarray, out_type: str) -> InvokeResult:
    try:
        scores = runtime.predict(X)
    except ValueError as exc:  # records of the wrong shape for this model
        raise _client_error(400, str(exc)) from exc
    # Framework containers do not echo CustomAttributes; neither do we.
    return InvokeResult(encode_scores(scores, out_type), out_type, None)


def model_failure(exc: Exception) -> ModelError:
    """An exception raised inside the model's code, as its container would answer it: a ValueError is the model
    refusing these records (400, scikit-learn's input checks), anything else the model failing (500)."""
    message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return _client_error(400 if isinstance(exc, ValueError) else 500, message)


def positive_class(proba: np.ndarray) -> np.ndarray:
    """Binary classifiers answer the positive-class probability only, like XGBoost's binary:logistic."""
    return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba


def decode_records(body: bytes, content_type: str, text: bool = False) -> np.ndarray:
    """Records as float64, or with ``text`` and a non-numeric cell, as an object array (see the module doc)."""
    try:
        # utf-8-sig drops the byte-order mark spreadsheet exports start with, as the explainer's parser does.
        decoded = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _client_error(400, "The request body is not UTF-8 text.") from exc
    if text:
        return _decode_text_records(decoded, content_type)
    return _decode_numbers(decoded, content_type)


def _decode_numbers(text: str, content_type: str) -> np.ndarray:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise _client_error(400, "The request body holds no records.")
    rows: list[list[float]] = []
    for i, line in enumerate(lines, start=1):
        try:
            if content_type == CSV:
                # RFC 4180 quoting ("1","2") only where a quote is: the explainer's parser reads it, so must this.
                cells = next(csv.reader([line])) if '"' in line else line.split(",")
                rows.append([float(cell) for cell in cells])
            else:
                record = _json_record(line, i)
                if isinstance(record, dict):
                    record = record.get("features")
                if not isinstance(record, list):
                    raise ValueError
                rows.append([_json_number(v, i, j) for j, v in enumerate(record, start=1)])
        except (ValueError, TypeError, csv.Error) as exc:
            fmt = "comma-separated numbers" if content_type == CSV else 'a JSON array or {"features": [...]}'
            raise _client_error(400, f"Record {i} is not {fmt}.") from exc
    if len({len(r) for r in rows}) != 1:
        raise _client_error(400, "Records have different numbers of features.")
    return np.asarray(rows, dtype=np.float64)


def _decode_text_records(text: str, content_type: str) -> np.ndarray:
    rows: list[list[object]] = []
    if content_type == CSV:
        try:
            cells = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
        except csv.Error as exc:
            raise _client_error(400, f"The request body is not valid CSV: {exc}.") from exc
        rows = [[_cell(value) for value in row] for row in cells]
    else:
        for i, line in enumerate((line for line in text.split("\n") if line.strip()), start=1):
            try:
                record = _json_record(line, i)
            except ValueError as exc:
                raise _client_error(400, f"Record {i} is not valid JSON.") from exc
            if isinstance(record, dict):
                record = record.get("features")
            if not isinstance(record, list) or not all(_is_cell(v) for v in record):
                raise _client_error(400, f'Record {i} is not a JSON array or {{"features": [...]}} of numbers or text.')
            rows.append([v if isinstance(v, str) else _json_number(v, i, j) for j, v in enumerate(record, start=1)])
    if not rows:
        raise _client_error(400, "The request body holds no records.")
    if len({len(r) for r in rows}) != 1:
        raise _client_error(400, "Records have different numbers of features.")
    if all(not isinstance(v, str) for row in rows for v in row):
        return np.asarray(rows, dtype=np.float64)
    table = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        table[i, :] = row
    return table


def _json_record(line: str, i: int) -> object:
    # Records are read flat here, so the parser's own depth limit is enough; the explainer, which walks them, holds
    # them to clarify.records.MAX_DEPTH first.
    try:
        return json.loads(line)
    except RecursionError:
        raise _client_error(400, f"Record {i} nests JSON too deeply to be read.") from None


def _json_number(value: float | str, i: int, j: int) -> float:
    try:
        return float(value)
    except OverflowError:  # an int: JSON's 1e999 reads as inf, but float(10**400) raises
        digits = len(str(abs(int(value))))  # read from text, so within the digits str() may write
        raise _client_error(
            400,
            f"Record {i}, column {j}: an integer of {digits} digits is not a finite number as a 64-bit float, whose "
            "range ends near ±1.8e308.",
        ) from None


def _cell(value: str) -> object:
    try:
        return float(value)
    except ValueError:
        return value


def _is_cell(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def encode_scores(scores: np.ndarray, accept: str) -> bytes:
    rows = scores.tolist()
    if accept == CSV:
        lines = [",".join(_csv_num(v) for v in row) if isinstance(row, list) else _csv_num(row) for row in rows]
        return ("\n".join(lines) + "\n").encode()
    items = [{"score": _json_num(row)} for row in rows]
    if accept == JSONLINES:
        return ("\n".join(json.dumps(item, separators=(",", ":")) for item in items) + "\n").encode()
    return json.dumps({"predictions": items}, separators=(",", ":")).encode()


def _csv_num(v: float) -> str:
    return repr(float(v))


def _json_num(v: object) -> object:
    if isinstance(v, list):
        return [_json_num(x) for x in v]
    f = float(v)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None  # JSON has no NaN; MLServer's codec does the same


def _client_error(status: int, message: str) -> ModelError:
    kind = "client" if status < 500 else "server"
    return ModelError(
        f'Received {kind} error ({status}) from primary with message "{message}". ',
        original_status_code=status,
        original_message=message,
    )
