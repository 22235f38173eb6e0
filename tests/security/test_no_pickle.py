"""No pickle: a ``.pkl``/``.joblib`` ModelDataUrl is refused by every built-in runtime, and so is a pickle renamed
to ``model.skops``. There is no setting that allows pickle (docs/reliability.md): loading one runs arbitrary code.

Each file below, if unpickled, would create a marker file; the test checks it never appears.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from tests.control.helpers import client_error, unique

IMAGES = ["openclarify/sklearn", "openclarify/xgboost", "openclarify/lightgbm", "openclarify/onnx"]


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def pickles(model_root: Path) -> tuple[list[Path], Path]:
    folder = model_root / "pickles"
    folder.mkdir()
    marker = folder / "UNPICKLED"
    data = pickle.dumps(Payload(marker))
    files = []
    for name in ("model.pkl", "model.joblib", "model.pickle"):
        (folder / name).write_bytes(data)
        files.append(folder / name)
    disguised = folder / "disguised"
    disguised.mkdir()
    (disguised / "model.skops").write_bytes(data)
    files.append(disguised / "model.skops")
    only_pickle = folder / "only-pickle"
    only_pickle.mkdir()
    (only_pickle / "model.pkl").write_bytes(data)
    files.append(only_pickle)
    return files, marker


@pytest.mark.parametrize("image", IMAGES)
def test_pickle_and_joblib_model_data_is_refused(sagemaker, pickles, image):
    files, marker = pickles
    for path in files:
        error = client_error(
            sagemaker.create_model,
            ModelName=unique("pickle"),
            PrimaryContainer={"Image": image, "ModelDataUrl": str(path)},
        )
        assert error["Code"] == "ValidationException", (path, error)
        assert error["Message"].strip()
    assert not marker.exists(), "a pickle was loaded"
