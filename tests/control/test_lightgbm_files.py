"""LightGBM text models checked before LightGBM reads them (runtimes/lightgbm_file.py).

Measured on lightgbm 4.7: a child past its tree crashed the process (SIGSEGV) at the first prediction, a child pointing
back at the root made the prediction run forever, a malformed line of the training parameters crashed it at load; a
split on a feature past the row, or a leaf past the tree's, answered whatever memory held. Every kind of model
LightGBM writes must still load and score as LightGBM scores it; every kind of damage is refused; and thousands of
damaged files neither crash nor hang a process."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from tests.control import model_fuzz

from openclarify.runtimes import RuntimeSpec, create_runtime
from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.lightgbm_file import checked_model_text

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 5))
X_MISSING = np.where(RNG.random(X.shape) < 0.05, np.nan, X)
Y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
CATEGORICAL = pd.DataFrame(X[:, :3], columns=list("abd")).assign(c=pd.Categorical(RNG.integers(0, 40, 300)))
Y_CATEGORICAL = ((CATEGORICAL["c"].cat.codes % 3 == 0) ^ (CATEGORICAL["a"] > 0)).astype(int)

KINDS: dict[str, tuple[dict, object, np.ndarray]] = {
    "binary": ({"objective": "binary", "num_leaves": 7}, X, Y),
    "regression": ({"objective": "regression"}, X, X[:, 0]),
    "multiclass": ({"objective": "multiclass", "num_class": 3}, X, RNG.integers(0, 3, 300)),
    "one-vs-all": ({"objective": "multiclassova", "num_class": 3}, X, RNG.integers(0, 3, 300)),
    "dart": ({"objective": "binary", "boosting": "dart"}, X, Y),
    "random forest": ({"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7}, X, Y),
    "linear trees": ({"objective": "regression", "linear_tree": True, "num_leaves": 4}, X, 2 * X[:, 0] + X[:, 1]),
    "categorical": ({"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1}, CATEGORICAL, Y_CATEGORICAL),
    "missing values": ({"objective": "binary"}, X_MISSING, Y),
    "zero as missing": ({"objective": "binary", "zero_as_missing": True}, X_MISSING, Y),
    "a single leaf": ({"objective": "regression", "min_data_in_leaf": 10_000}, X, X[:, 0]),
}


def trained(kind: str):
    import lightgbm

    params, data, label = KINDS[kind]
    return lightgbm.train({"verbose": -1, **params}, lightgbm.Dataset(data, label=label), num_boost_round=5), data


def rows(data) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        return data.assign(c=data["c"].cat.codes).to_numpy(float)
    return np.asarray(data, dtype=float)


def load(path):
    runtime = create_runtime(RuntimeSpec(image="openclarify/lightgbm", model_path=path))
    runtime.load()
    return runtime


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_model_loads_and_scores_as_lightgbm_does(tmp_path, kind):
    booster, data = trained(kind)
    path = tmp_path / "model.txt"
    booster.save_model(str(path))
    np.testing.assert_array_equal(load(path).predict(rows(data)), booster.predict(data))


def without_sizes(text: str) -> str:
    """The model text without its ``tree_sizes`` line, which LightGBM does not need: damage inside a tree then reaches
    the tree's own checks, not only the sizes'."""
    return re.sub(r"^tree_sizes=.*\n", "", text, flags=re.MULTILINE)


def edit(key: str, change: Callable[[list[str]], list[str]], tree: int = 1) -> Callable[[str], str]:
    """Changes the values of ``key`` in tree ``tree``."""

    def damage(text: str) -> str:
        start = text.index(f"\nTree={tree}\n")
        line = text.index(f"\n{key}=", start) + 1
        stop = text.index("\n", line)
        values = text[line + len(key) + 1 : stop].split(" ")
        return text[:line] + f"{key}=" + " ".join(change(values)) + text[stop:]

    return damage


def header(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"\n{old}\n", f"\n{new}\n", 1)


DAMAGES: dict[str, tuple[str, Callable[[str], str], str]] = {
    "a child past its tree": ("binary", edit("left_child", lambda v: ["999", *v[1:]]), "children"),
    "a leaf past the tree's leaves": ("binary", edit("right_child", lambda v: ["-99", *v[1:]]), "children"),
    "a child pointing back at the root": ("binary", edit("left_child", lambda v: [v[0], "0", *v[2:]]), "children"),
    "a node reached twice": ("binary", edit("right_child", lambda v: [v[0], v[0], *v[2:]]), "form a tree"),
    "a split on a feature past the row": ("binary", edit("split_feature", lambda v: ["77", *v[1:]]), "feature"),
    "splits shorter than the nodes": ("binary", edit("threshold", lambda v: v[:-1]), "one entry per inner node"),
    "leaf values short of the leaves": ("binary", edit("leaf_value", lambda v: v[:-1]), "one value per leaf"),
    "a decision type LightGBM never writes": ("binary", edit("decision_type", lambda v: ["12", *v[1:]]), "decision"),
    "a count that is not a number": ("binary", edit("num_leaves", lambda v: ["7x"]), "num_leaves"),
    "a categorical list past the tree's": (
        "categorical",
        lambda text: text.replace("\nnum_cat=", "\nnum_cat=0\nold_cat=", 1),
        "categorical",
    ),
    "category bounds past the words": ("categorical", edit("cat_boundaries", lambda v: [*v[:-1], "999"], 0), "cat_"),
    "a linear leaf on a feature past the row": (
        "linear trees",
        edit("leaf_features", lambda v: ["42" if w else w for w in v]),
        "linear leaf",
    ),
    "linear leaves miscounted": ("linear trees", edit("num_features", lambda v: ["9", *v[1:]]), "linear tree"),
    "more trees per iteration than classes": (
        "binary",
        header("num_tree_per_iteration=1", "num_tree_per_iteration=3"),
        "class counts",
    ),
    "feature names short of the features": (
        "binary",
        lambda text: re.sub(r"\nfeature_names=(\S+) ", "\nfeature_names=", text, count=1),
        "feature_names",
    ),
    "trees out of order": ("binary", lambda text: text.replace("\nTree=1\n", "\nTree=7\n"), "out of order"),
    "a line of the parameters among the trees": (
        "binary",
        lambda text: text.replace("\nshrinkage=0.1\n", "\nshrinkage=0.1\n[boosting: gbdt]\n", 1),
        "a line that is not",
    ),
    "a key given twice": (
        "binary",
        lambda text: text.replace("\nis_linear=0\n", "\nis_linear=0\nis_linear=1\n", 1),
        "a line",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_each_kind_of_damage_is_refused(tmp_path, damage):
    kind, change, says = DAMAGES[damage]
    booster, _ = trained(kind)
    text = without_sizes(booster.model_to_string())
    checked_model_text(text.encode())  # whole, it passes
    damaged = change(text)
    assert damaged != text
    with pytest.raises(ValueError, match=says):
        checked_model_text(damaged.encode())
    path = tmp_path / "model.txt"
    path.write_text(damaged)
    with pytest.raises(ModelLoadError, match="not a valid LightGBM model"):
        load(path)


def test_a_damaged_parameter_line_changes_nothing(tmp_path):
    """LightGBM crashed at load on a malformed line of the training parameters. They change no prediction, so they are
    left out: the model loads and scores as it did whole."""
    booster, data = trained("binary")
    path = tmp_path / "model.txt"
    path.write_text(booster.model_to_string().replace("\n[boosting: gbdt]\n", "\n[boosting? gbdt\n"))
    np.testing.assert_array_equal(load(path).predict(rows(data)), booster.predict(data))


def test_thousands_of_damaged_files_never_crash_or_hang_the_process(tmp_path):
    for kind in ("binary", "multiclass", "linear trees", "categorical"):
        booster, _ = trained(kind)
        text = booster.model_to_string()
        (tmp_path / f"source-{kind.replace(' ', '-')}.txt").write_text(text)
        (tmp_path / f"source-{kind.replace(' ', '-')}-unsized.txt").write_text(without_sizes(text))
    outcomes = model_fuzz.run(tmp_path, 250, "openclarify/lightgbm", width=5, timeout=240)
    assert sum(outcomes.values()) == 2000
    assert outcomes["refused"] > 600
