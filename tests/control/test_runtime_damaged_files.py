"""Damaged and packed model files: CreateModel refuses them with a ValidationException, and the server survives.

XGBoost's UBJSON reader and LightGBM's text reader trust what a file says about its own length: cut short, the file
made them allocate gigabytes or take the whole server down (SIGSEGV, std::terminate). These tests run their own
server, so that a crash is this file's failure and not every later test's."""

from __future__ import annotations

import functools
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.conftest import LiveServer
from tests.control.conftest import training_data
from tests.control.helpers import FAST_WAIT, client_error, unique, variant

X, Y = training_data()


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("damaged-models")
    live = LiveServer(tmp_path_factory.mktemp("damaged-server"), [root]).start()
    yield live, root
    live.stop()


@functools.cache
def client(live: LiveServer, service: str):
    """One client per server and service: building one takes a fifth of a second."""
    return live.client(service)


def refused(live: LiveServer, image: str, path: Path) -> str:
    error = client_error(
        client(live, "sagemaker").create_model,
        ModelName=unique("damaged"),
        PrimaryContainer={"Image": image, "ModelDataUrl": str(path)},
    )
    assert error["Code"] == "ValidationException"
    return error["Message"]


def alive(live: LiveServer) -> bool:
    return live.process is not None and live.process.poll() is None and httpx.get(live.url + "/ping").is_success


def served(live: LiveServer, image: str, path: Path, rows: np.ndarray) -> np.ndarray:
    sagemaker = client(live, "sagemaker")
    model, config, endpoint = unique("m"), unique("c"), unique("e")
    sagemaker.create_model(ModelName=model, PrimaryContainer={"Image": image, "ModelDataUrl": str(path)})
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model)])
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=FAST_WAIT)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
    answer = client(live, "sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
    return np.array([[float(v) for v in line.split(",")] for line in answer["Body"].read().decode().splitlines()])


def lightgbm_text(objective: dict) -> str:
    import lightgbm

    labels = np.digitize(X[:, 0], [-0.5, 0.5]) if objective.get("num_class") else Y
    params = {"verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5, **objective}
    return lightgbm.train(params, lightgbm.Dataset(X, label=labels), num_boost_round=5).model_to_string()


def test_a_lightgbm_model_cut_short_is_refused_without_crashing_the_server(own_server):
    live, root = own_server
    text = lightgbm_text({"objective": "binary"})
    trees = text.index("\nTree=0\n") + 1
    cuts = {
        "inside the first tree": trees + 150,
        "between two trees": text.index("\nTree=2\n") + 1,
        "inside the last tree": text.index("\nend of trees\n") - 40,
        "inside the parameters": text.index("\nparameters:\n") + 400,
    }
    for where, cut in cuts.items():
        path = root / f"{unique('lgb-cut')}.txt"
        path.write_text(text[:cut])
        assert "not a valid LightGBM model" in refused(live, "openclarify/lightgbm", path), where
        assert alive(live), f"the server died on a LightGBM model cut {where}"


@pytest.mark.parametrize(
    "objective",
    [{"objective": "binary"}, {"objective": "multiclass", "num_class": 3}, {"objective": "regression"}],
    ids=["binary", "multiclass", "regression"],
)
def test_complete_lightgbm_models_score_as_lightgbm_does(own_server, objective):
    import lightgbm

    live, root = own_server
    path = root / f"{unique('lgb')}.txt"
    path.write_text(lightgbm_text(objective))
    expected = lightgbm.Booster(model_file=str(path)).predict(X[:5])
    np.testing.assert_allclose(served(live, "openclarify/lightgbm", path, X[:5]).squeeze(), expected, rtol=1e-12)
    # The same file with Windows line ends, as git's autocrlf checks it out: LightGBM itself aborts on it.
    crlf = root / f"{unique('lgb-crlf')}.txt"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    np.testing.assert_allclose(served(live, "openclarify/lightgbm", crlf, X[:5]).squeeze(), expected, rtol=1e-12)


def xgboost_ubj(root: Path) -> tuple[bytes, object]:
    import xgboost

    booster = xgboost.train(
        {"objective": "reg:squarederror", "max_depth": 2}, xgboost.DMatrix(X, label=X @ [1, 2, -1, 0.5]), 5
    )
    return bytes(booster.save_raw("ubj")), booster


def test_an_xgboost_ubjson_model_cut_short_is_refused_without_crashing_the_server(own_server):
    live, root = own_server
    raw, _ = xgboost_ubj(root)
    for cut in range(1, len(raw), 13):
        path = root / f"{unique('xgb-cut')}.ubj"
        path.write_bytes(raw[:cut])
        assert "not a valid XGBoost model" in refused(live, "openclarify/xgboost", path), cut
        path.unlink()
    assert alive(live)


def test_an_xgboost_ubjson_model_is_served_under_any_of_its_names(own_server):
    import xgboost

    live, root = own_server
    raw, booster = xgboost_ubj(root)
    expected = booster.predict(xgboost.DMatrix(X[:5]))
    folder = root / unique("sagemaker-xgboost")
    folder.mkdir()
    (folder / "xgboost-model").write_bytes(raw)  # the name SageMaker's XGBoost container saves under
    for path in (folder, folder / "xgboost-model"):
        np.testing.assert_allclose(served(live, "openclarify/xgboost", path, X[:5])[:, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("compress", ["gz", ""])
def test_a_model_tar_gz_is_refused_saying_to_unpack_it(own_server, model_files, compress):
    live, root = own_server
    path = root / f"{unique('model')}.tar{'.' + compress if compress else ''}"
    with tarfile.open(path, f"w:{compress}") as archive:
        archive.add(model_files["openclarify/xgboost"], arcname="model.json")
    message = refused(live, "openclarify/xgboost", path)
    assert "archive" in message and "Unpack it" in message
    assert alive(live)


def test_a_server_without_the_models_library_names_the_package_and_its_extra(tmp_path, model_files):
    """A server installed without xgboost answered CreateModel with "not a valid XGBoost model. Save it with ...",
    sending the user after a good file instead of the missing package. The package is taken away here by a module of
    its name that fails to import as an absent one does (the server's PYTHONPATH comes first)."""
    shadow = tmp_path / "without-xgboost" / "xgboost"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'xgboost'\", name='xgboost')\n")
    root = model_files["openclarify/xgboost"].parent
    live = LiveServer(tmp_path / "data", [root], env={"PYTHONPATH": str(shadow.parent)}).start()
    try:
        message = refused(live, "openclarify/xgboost", model_files["openclarify/xgboost"])
    finally:
        live.stop()
    assert message == (
        "This server cannot load XGBoost models: the Python package 'xgboost' is not installed. Install it "
        "(pip install 'openclarify[xgboost]' installs what XGBoost models need) and restart the server."
    )
