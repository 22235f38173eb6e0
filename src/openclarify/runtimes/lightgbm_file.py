"""A LightGBM text model checked before LightGBM reads it.

LightGBM trusts the file, and a few bytes changed in it took the whole server down or hung it, in a fuzz run and by
hand on lightgbm 4.7: a file cut short (SIGSEGV reading past its end, or std::terminate when a tree fails to parse in
its parallel loop), a malformed line of the training parameters (SIGSEGV at load), a child past its tree (SIGSEGV at
the first prediction), a child pointing back at the root (the prediction never ends). A split on a feature past the
row, or a leaf past the tree's leaves, read memory past their arrays and answered whatever was there.

So LightGBM is given only what prediction needs, checked: the header, every tree, and the end marker. The training
parameters and feature importances after the trees are left out (they change no prediction). Each tree's arrays must
be as long as its leaf count says, its children must form one tree over its nodes and leaves, its splits must be on the
model's features, and its categorical splits and linear leaves must stay within their lists.
"""

from __future__ import annotations

import re

import numpy as np

_TREE_SIZES = re.compile(r"^tree_sizes=(.*)\n", re.MULTILINE)
_END = "\nend of trees\n"


def checked_model_text(raw: bytes) -> str:
    """The model text LightGBM is given: the header and the trees of ``raw``, checked; ValueError saying what is wrong
    for anything else. Windows line ends (a model checked out with git's autocrlf, say) are read as line ends:
    LightGBM counts them into the declared tree sizes and aborts on such a file, complete as it is."""
    if not raw.startswith((b"tree\n", b"tree\r\n")):
        raise ValueError("not a LightGBM text model")
    text = raw.decode("utf-8").replace("\r\n", "\n")
    end = text.find(_END)
    if end < 0:
        raise ValueError("the model's trees are not complete")
    # What follows the trees is left out, but a file cut short there is still a file cut short: refused, as a partial
    # copy of a model should be.
    parameters = text.find("\nparameters:\n", end)
    if parameters >= 0 and text.find("\nend of parameters\n", parameters) < 0:
        raise ValueError("the model's parameters are not complete")
    first = text.find("\nTree=", 0, end + 1)
    head = text[: first + 1 if first >= 0 else end + 1]
    trees = text[first + 1 : end + 1] if first >= 0 else ""
    sizes = _TREE_SIZES.search(head)
    if sizes is not None:
        # The trees must fill exactly the sizes the header declares: a file cut between two trees is otherwise a
        # model of fewer trees, loaded without a word. The line is then left out, so that LightGBM parses the trees
        # one after another (where a damaged one raises an error) instead of in parallel (where it aborts).
        declared = [int(size) for size in sizes.group(1).split()]
        if sum(declared) != len(trees) or not all(
            trees.startswith("Tree=", offset) for offset in np.cumsum([0, *declared[:-1]]).tolist()
        ):
            raise ValueError("the model's trees do not match their declared sizes")
        head = head[: sizes.start()] + head[sizes.end() :]
    n_features, per_iteration = _check_header(_fields(head.split("\n", 1)[1], flags=True))
    blocks = [block for block in re.split(r"\n(?=Tree=)", trees) if block.strip()]
    if len(blocks) % per_iteration:
        raise ValueError("the number of trees is not a multiple of the trees per iteration")
    for number, block in enumerate(blocks):
        title, _, body = block.partition("\n")
        if title != f"Tree={number}":
            raise ValueError(f"tree {number} is missing or out of order")
        _check_tree(_fields(body), n_features)
    return head + trees + _END.lstrip("\n")


def _check_header(header: dict[str, str]) -> tuple[int, int]:
    n_features = _integer(header, "max_feature_idx") + 1
    classes = _integer(header, "num_class")
    per_iteration = _integer(header, "num_tree_per_iteration")
    if n_features < 1 or classes < 1 or per_iteration != classes:
        raise ValueError("the header's feature and class counts do not fit together")
    if len(header.get("feature_names", "").split()) != n_features:
        raise ValueError("feature_names does not name every feature")
    return n_features, per_iteration


def _check_tree(tree: dict[str, str], n_features: int) -> None:
    leaves = _integer(tree, "num_leaves")
    if leaves < 1:
        raise ValueError("a tree without leaves")
    if _numbers(tree, "leaf_value", float).shape[0] != leaves:
        raise ValueError("leaf_value does not have one value per leaf")
    inner = leaves - 1
    feature, kind, left, right = (
        _numbers(tree, key, int) for key in ("split_feature", "decision_type", "left_child", "right_child")
    )
    threshold = _numbers(tree, "threshold", float)
    if any(array.shape[0] != inner for array in (feature, kind, left, right, threshold)):
        raise ValueError("a tree's splits do not have one entry per inner node")
    if not _within(feature, 0, n_features):
        raise ValueError("a split is on a feature the model does not have")
    # A child is an inner node (0, 1, ...) or a leaf (-1 for the first, -2, ...): each reached once, the root never.
    # Each node then has one parent at most and the root none, so walking down from the root ends at a leaf.
    children = np.concatenate([left, right])
    if not _within(children, -leaves, inner) or (children == 0).any():
        raise ValueError("a node's children are not nodes or leaves of its tree")
    if np.unique(children).shape[0] != children.shape[0] or (inner and (children < 0).sum() != leaves):
        raise ValueError("a tree's nodes do not form a tree")
    if not (_within(kind, 0, 16) and _within((kind >> 2) & 3, 0, 3)):
        raise ValueError("a split's decision_type is not one LightGBM writes")
    _check_categorical(tree, kind, threshold)
    if tree.get("is_linear", "0").strip() == "1":
        _check_linear(tree, leaves, n_features)


def _check_categorical(tree: dict[str, str], kind: np.ndarray, threshold: np.ndarray) -> None:
    categorical = (kind & 1) == 1
    n_cat = _integer(tree, "num_cat") if "num_cat" in tree else 0
    if not categorical.any() and n_cat == 0:
        return
    # A categorical split's threshold names its category list: one of num_cat, bounded by cat_boundaries in
    # cat_threshold.
    lists = threshold[categorical]
    if not (np.isfinite(lists).all() and (lists == np.round(lists)).all() and _within(lists, 0, n_cat)):
        raise ValueError("a categorical split's list is not one of the tree's")
    bounds = _numbers(tree, "cat_boundaries", int)
    words = _numbers(tree, "cat_threshold", int)
    if bounds.shape[0] != n_cat + 1 or bounds[0] != 0 or bounds[-1] != words.shape[0] or (np.diff(bounds) < 0).any():
        raise ValueError("cat_boundaries does not split cat_threshold into the tree's lists")
    if not _within(words, 0, 1 << 32):
        raise ValueError("cat_threshold holds a value that is not a 32-bit word")


def _check_linear(tree: dict[str, str], leaves: int, n_features: int) -> None:
    counts = _numbers(tree, "num_features", int)
    if counts.shape[0] != leaves or (counts < 0).any() or _numbers(tree, "leaf_const", float).shape[0] != leaves:
        raise ValueError("a linear tree's leaves do not match its leaf count")
    used = _numbers(tree, "leaf_features", int)
    if used.shape[0] != counts.sum() or _numbers(tree, "leaf_coeff", float).shape[0] != counts.sum():
        raise ValueError("a linear tree's features do not match their counts")
    if not _within(used, 0, n_features):
        raise ValueError("a linear leaf uses a feature the model does not have")


def _fields(block: str, flags: bool = False) -> dict[str, str]:
    """The ``key=value`` lines of a header or a tree, each key once (and, with ``flags``, lines of a key alone, as the
    header's ``average_output``); ValueError for any other line but a blank one. A line of another section
    (``parameters:``, ``[boosting: gbdt]``) among them is the sign of a damaged file, on which LightGBM's parser
    crashed."""
    fields: dict[str, str] = {}
    for line in block.split("\n"):
        if not line:
            continue
        key, sign, value = line.partition("=")
        if not (sign or flags) or not _KEY.fullmatch(key) or key in fields:
            raise ValueError("a line that is not one of a tree's or of the header's")
        fields[key] = value
    return fields


_KEY = re.compile(r"[a-z][a-z_]*")


def _integer(fields: dict[str, str], key: str) -> int:
    value = fields.get(key, "").strip()
    if not re.fullmatch(r"-?\d{1,12}", value):
        raise ValueError(f"{key} is not an integer")
    return int(value)


def _numbers(fields: dict[str, str], key: str, kind: type) -> np.ndarray:
    words = fields.get(key, "").split()
    try:
        if kind is int:
            if not all(re.fullmatch(r"-?\d{1,20}", word) for word in words):
                raise ValueError
            return np.array([int(word) for word in words], dtype=np.int64)
        return np.array([float(word) for word in words], dtype=np.float64)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{key} is not a list of numbers") from exc


def _within(values: np.ndarray, low: int, high: int) -> bool:
    return bool(((values >= low) & (values < high)).all())
