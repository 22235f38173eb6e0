"""XGBoost model files checked before XGBoost reads them (runtimes/xgboost_file.py).

XGBoost indexes its trees' arrays with the numbers a file holds: a parent, a child, a split's feature or a tree's
output group past its array took the whole process down with SIGSEGV (measured on xgboost 3.2, JSON and UBJSON alike:
the parent at load, the others at the first prediction). Every kind of model XGBoost writes must still load and score
as XGBoost scores it; every kind of damage is refused; and a few thousand damaged files never crash a process."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.control import model_fuzz

from openclarify.runtimes import RuntimeSpec, create_runtime
from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.xgboost_file import check_model, decode_model

RNG = np.random.default_rng(0)
X = RNG.standard_normal((240, 4))
Y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
CATEGORICAL = pd.DataFrame({"a": X[:, 0], "c": pd.Categorical(RNG.integers(0, 30, 240)), "b": X[:, 1]})
Y_CATEGORICAL = ((CATEGORICAL["c"].cat.codes % 3 == 0) ^ (CATEGORICAL["a"] > 0)).astype(int)

KINDS: dict[str, tuple[dict, object, np.ndarray]] = {
    "binary": ({"objective": "binary:logistic", "max_depth": 3}, X, Y),
    "regression": ({"objective": "reg:squarederror"}, X, X[:, 0]),
    "multiclass": ({"objective": "multi:softprob", "num_class": 3}, X, RNG.integers(0, 3, 240)),
    "dart": ({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3}, X, Y),
    "gblinear": ({"objective": "binary:logistic", "booster": "gblinear"}, X, Y),
    "multi-output tree": ({"tree_method": "hist", "multi_strategy": "multi_output_tree"}, X, RNG.normal(size=(240, 2))),
    "a tree per target": ({"tree_method": "hist"}, X, RNG.normal(size=(240, 2))),
    "random forest": ({"objective": "binary:logistic", "num_parallel_tree": 3, "subsample": 0.8}, X, Y),
    "categorical": (
        {"objective": "binary:logistic", "tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 3},
        CATEGORICAL,
        Y_CATEGORICAL,
    ),
    "pruned": ({"objective": "binary:logistic", "tree_method": "exact", "max_depth": 6, "gamma": 2.0}, X, Y),
}


def trained(kind: str):
    import xgboost

    params, data, label = KINDS[kind]
    matrix = xgboost.DMatrix(data, label=label, enable_categorical=isinstance(data, pd.DataFrame))
    return xgboost.train(params, matrix, 6), data


def rows(data) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        return data.assign(c=data["c"].cat.codes).to_numpy(float)
    return np.asarray(data, dtype=float)


def load(path: Path):
    runtime = create_runtime(RuntimeSpec(image="openclarify/xgboost", model_path=path))
    runtime.load()
    return runtime


@pytest.mark.parametrize("fmt", ["json", "ubj"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_model_loads_and_scores_as_xgboost_does(tmp_path, kind, fmt):
    import xgboost

    booster, data = trained(kind)
    path = tmp_path / f"model.{fmt}"
    booster.save_model(str(path))
    matrix = xgboost.DMatrix(data, enable_categorical=isinstance(data, pd.DataFrame))
    np.testing.assert_allclose(load(path).predict(rows(data)), booster.predict(matrix), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["binary", "multi-output tree", "categorical", "dart"])
def test_ubjson_decodes_to_the_same_model_as_json(kind):
    booster, _ = trained(kind)

    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list | np.ndarray):
            return [plain(item) for item in (value.tolist() if isinstance(value, np.ndarray) else value)]
        return value

    from_ubjson = plain(decode_model(bytes(booster.save_raw("ubj")), ubjson=True))
    from_json = plain(decode_model(bytes(booster.save_raw("json")), ubjson=False))
    # JSON writes floats in shortest text, UBJSON in single precision: compare them as XGBoost reads them.
    assert json.loads(json.dumps(from_ubjson), parse_float=np.float32) == json.loads(
        json.dumps(from_json), parse_float=np.float32
    )


def test_a_model_from_before_categorical_splits_loads(tmp_path):
    """XGBoost before 1.5 wrote no split_type; XGBoost still reads such models, so the checks must too."""
    booster, data = trained("binary")
    model = json.loads(booster.save_raw("json"))
    for t in forest(model)["trees"]:
        del t["split_type"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    np.testing.assert_allclose(load(path).predict(rows(data)), booster.inplace_predict(rows(data)), rtol=1e-6)


def test_a_model_in_the_legacy_binary_format_is_refused_saying_how_to_convert_it():
    """A real model as SageMaker's XGBoost container (1.7) saves it: xgboost-model, in XGBoost's old binary format,
    written by xgboost 1.7.6 (one tree of depth 1, 690 bytes). XGBoost 3 cannot read it; the message says what to do."""
    folder = Path(__file__).parent / "data" / "xgboost-1.7.6-sagemaker"
    assert (folder / "xgboost-model").read_bytes().startswith(b"binf")
    says = r"binary format older XGBoost versions wrote .*save_model\('model\.json'\)"
    with pytest.raises(ModelLoadError, match=says):
        load(folder)


def model_json(kind: str) -> dict:
    booster, _ = trained(kind)
    return json.loads(booster.save_raw("json"))


def forest(model: dict) -> dict:
    booster = model["learner"]["gradient_booster"]
    return (booster["gbtree"] if booster["name"] == "dart" else booster)["model"]


def tree(model: dict, index: int = 1) -> dict:
    return forest(model)["trees"][index]


def first_inner(t: dict) -> int:
    return next(i for i, left in enumerate(t["left_children"]) if left != -1)


def first_leaf(t: dict) -> int:
    return next(i for i, left in enumerate(t["left_children"]) if left == -1)


def set_item(key: str, index: Callable[[dict], int], value: Callable[[dict], object]):
    def damage(model: dict) -> None:
        t = tree(model)
        t[key][index(t)] = value(t)

    return damage


def nodes(t: dict) -> int:
    return int(t["tree_param"]["num_nodes"])


def categorical_tree(model: dict) -> dict:
    return next(t for t in forest(model)["trees"] if t["categories_nodes"])


DAMAGES: dict[str, tuple[str, Callable[[dict], None], str]] = {
    "a child past its tree": ("binary", set_item("left_children", first_inner, lambda t: nodes(t) + 3), "children"),
    "a child that is a fraction": ("binary", set_item("left_children", first_inner, lambda t: 1.5), "numbers"),
    "a node the child of two": (
        "binary",
        set_item("right_children", first_inner, lambda t: t["left_children"][first_inner(t)]),
        "form a tree",
    ),
    "a cycle back to the root": ("binary", set_item("left_children", lambda t: 1, lambda t: 0), "form a tree"),
    "a parent past its tree": ("binary", set_item("parents", lambda t: 2, lambda t: 8257536), "parent"),
    "a parent that is not the node above": ("binary", set_item("parents", lambda t: 1, lambda t: 2), "parent"),
    "a leaf with a child": ("binary", set_item("right_children", first_leaf, lambda t: 1), "leaf has a child"),
    "a split on a feature the model lacks": (
        "binary",
        set_item("split_indices", first_inner, lambda t: 4),
        "feature",
    ),
    "an array shorter than the nodes": (
        "binary",
        lambda m: tree(m)["split_conditions"].pop(),
        "one entry per node",
    ),
    "base weights shorter than the nodes": ("binary", lambda m: tree(m)["base_weights"].pop(), "base_weights"),
    "a node count that is not a count": (
        "binary",
        lambda m: tree(m)["tree_param"].update(num_nodes="-3"),
        "num_nodes",
    ),
    "a tree missing": ("binary", lambda m: forest(m)["trees"].pop(), "num_trees"),
    "two trees of one id": ("binary", lambda m: tree(m, 2).update(id=1), "ids"),
    "a tree's output past the model's": ("binary", lambda m: forest(m)["tree_info"].__setitem__(0, 1000), "output"),
    "iterations that do not cover the trees": (
        "binary",
        lambda m: forest(m)["iteration_indptr"].__setitem__(-1, 2),
        "iteration_indptr",
    ),
    "a base score per output missing": (
        "multiclass",
        lambda m: m["learner"]["learner_model_param"].update(base_score="[5E-1,5E-1]"),
        "base_score",
    ),
    "a multi-output leaf past leaf_weights": (
        "multi-output tree",
        set_item("right_children", first_leaf, lambda t: len(t["leaf_weights"])),
        "leaf_weights",
    ),
    "categories past their list": (
        "categorical",
        lambda m: categorical_tree(m)["categories_sizes"].__setitem__(0, 10_000),
        "run past",
    ),
    "a categorical split without categories": (
        "categorical",
        lambda m: categorical_tree(m).update(categories_nodes=[], categories_segments=[], categories_sizes=[]),
        "no list of categories",
    ),
    "a category code past 2^24": (
        "categorical",
        lambda m: categorical_tree(m)["categories"].__setitem__(0, 1 << 30),
        "category code",
    ),
    "an encoding index past its feature's categories": (
        "categorical",
        lambda m: forest(m)["cats"]["sorted_idx"].__setitem__(0, 10_000),
        "sorted_idx",
    ),
    "linear weights too few": (
        "gblinear",
        lambda m: m["learner"]["gradient_booster"]["model"]["weights"].pop(),
        "weights",
    ),
    "dart weights too few": ("dart", lambda m: m["learner"]["gradient_booster"]["weight_drop"].pop(), "weight_drop"),
    "an unknown booster": ("binary", lambda m: m["learner"]["gradient_booster"].update(name="gbforest"), "booster"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_each_kind_of_damage_is_refused(tmp_path, damage):
    kind, change, says = DAMAGES[damage]
    model = model_json(kind)
    check_model(copy.deepcopy(model))  # whole, it passes
    change(model)
    with pytest.raises(ValueError, match=says):
        check_model(model)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    with pytest.raises(ModelLoadError, match="not a valid XGBoost model"):
        load(path)


def test_thousands_of_damaged_files_never_crash_the_process(tmp_path):
    import xgboost

    small = X[:, :3]
    for kind, params, label in [
        ("binary", {"objective": "binary:logistic", "max_depth": 3}, Y),
        ("multi-output", {"tree_method": "hist", "multi_strategy": "multi_output_tree", "max_depth": 3}, X[:, :2]),
        ("multiclass", {"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, RNG.integers(0, 3, 240)),
    ]:
        booster = xgboost.train(params, xgboost.DMatrix(small, label=label), 6)
        for fmt in ("json", "ubj"):
            (tmp_path / f"source-{kind}.{fmt}").write_bytes(bytes(booster.save_raw(fmt)))
    outcomes = model_fuzz.run(tmp_path, 300, "openclarify/xgboost", width=3, timeout=300)
    assert sum(outcomes.values()) == 1800
    assert outcomes["refused"] > 1000  # most damage is caught before XGBoost reads a byte
