"""An XGBoost model file read and checked before XGBoost reads it.

XGBoost's readers trust the file. Its UBJSON reader allocates what a length says (a file cut short made it allocate
gigabytes or crash); and both readers, JSON and UBJSON, index the trees' arrays with the node and feature numbers the
file holds. A few bytes changed in a model file (one child or parent number past the end of its tree) crashed the
whole server with SIGSEGV, at load or at the first prediction that reached the node: 3 of 40 files with random bytes
changed, in a fuzz run of the UBJSON model of the tests.

So the file is decoded here first, every length checked against the bytes left, and the ensemble's structure checked
against itself: each tree's arrays as long as its node count says, children and parents within the tree and forming
one (no node reached twice, so no cycle), split features within the model's features, categorical splits within their
category lists, and each tree's output group within the model's. XGBoost then reads the very bytes that were checked.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

# UBJSON's numbers: their struct formats (big-endian), and numpy's for arrays of them.
_INTEGERS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_NUMBERS = {**_INTEGERS, b"d": ">f", b"D": ">d"}
_ARRAYS = {marker: np.dtype(code) for marker, code in _NUMBERS.items()}
_SIZES = {**{marker: struct.calcsize(code) for marker, code in _NUMBERS.items()}, b"C": 1}
_MAX_DEPTH = 64  # XGBoost's own models nest 6 deep
# A tree's root has no parent: XGBoost writes 2^31 - 1 for it in scalar trees, -1 in multi-output ones.
_NO_PARENT = (-1, 2**31 - 1)
# Rows reach XGBoost in single precision, where integers past 2^24 are no longer all distinct: no category code can be
# larger and still be told from its neighbours. A larger one would also make XGBoost allocate a bitset to match.
_MAX_CATEGORY = 1 << 24


def decode_model(data: bytes, ubjson: bool) -> Any:
    """The model in ``data`` (UBJSON or JSON) as Python values, with numeric arrays as numpy arrays; ValueError for
    bytes that are not one complete value, or whose lengths run past the end."""
    if not ubjson:
        try:
            return json.loads(data, object_pairs_hook=_unique_keys)
        except (UnicodeDecodeError, RecursionError) as exc:
            raise ValueError("not JSON") from exc
    reader = _UBJson(data)
    value = reader.value(reader.marker(), 0)
    if reader.pos != len(data):
        raise ValueError("bytes after the model")
    return value


class _UBJson:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> int:
        """Moves past ``n`` bytes and returns where they start."""
        if n > len(self.data) - self.pos:
            raise ValueError("the file ends inside a value")
        self.pos += n
        return self.pos - n

    def marker(self) -> bytes:
        start = self.take(1)
        return self.data[start : start + 1]

    def peek(self) -> bytes:
        return self.data[self.pos : self.pos + 1]

    def number(self, marker: bytes) -> Any:
        start = self.take(_SIZES[marker])
        if marker == b"C":
            return self.data[start : start + 1].decode("latin-1")
        (value,) = struct.unpack_from(_NUMBERS[marker], self.data, start)
        return value

    def length(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        if marker not in _INTEGERS:
            raise ValueError("a length is not an integer")
        n = self.number(marker)
        if n < 0 or n > len(self.data) - self.pos:
            raise ValueError("a length runs past the end of the file")
        return n

    def text(self) -> str:
        n = self.length()
        start = self.take(n)
        return self.data[start : start + n].decode("utf-8")

    def value(self, marker: bytes, depth: int) -> Any:
        if marker == b"Z":
            return None
        if marker in (b"T", b"F"):
            return marker == b"T"
        if marker == b"N":
            raise ValueError("a no-op marker where a value belongs")
        if marker in _SIZES:
            return self.number(marker)
        if marker in (b"S", b"H"):
            return self.text()
        if marker in (b"[", b"{"):
            return self.container(marker == b"{", depth + 1)
        raise ValueError("an unknown value marker")

    def container(self, is_object: bool, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("values nest too deeply")
        item_type = None
        if self.peek() == b"$":
            self.take(1)
            item_type = self.marker()
            # A type of no size (null, true, false) would let a count claim any number of items without bytes.
            if item_type not in (*_SIZES, b"S", b"H", b"[", b"{") or self.peek() != b"#":
                raise ValueError("a typed container without a usable type and count")
        if self.peek() == b"#":
            self.take(1)
            count = self.length()
            if item_type in _NUMBERS and not is_object:
                start = self.take(count * _SIZES[item_type])
                return np.frombuffer(self.data, _ARRAYS[item_type], count, start)
            if is_object:
                return _unique_keys((self.text(), self.value(item_type or self.marker(), depth)) for _ in range(count))
            return [self.value(item_type or self.marker(), depth) for _ in range(count)]
        end = b"}" if is_object else b"]"
        items: list = []
        while (marker := self.marker()) != end:
            if is_object:
                self.pos -= 1  # the key's length marker
                items.append((self.text(), self.value(self.marker(), depth)))
            else:
                items.append(self.value(marker, depth))
        return _unique_keys(items) if is_object else items


def _unique_keys(pairs: Any) -> dict:
    """An object whose keys are all different. A key given twice would be checked with one of its values here and read
    with the other by XGBoost, whose parser need not pick the same one."""
    items = dict(pairs := list(pairs))
    if len(items) != len(pairs):
        raise ValueError("an object names a key twice")
    return items


def check_model(model: Any) -> None:
    """ValueError, saying what is wrong, unless ``model`` (``decode_model``'s) is an ensemble XGBoost can read without
    going past an array."""
    learner = _object(_object(model, "the model")["learner"], "learner")
    params = _object(learner["learner_model_param"], "learner_model_param")
    n_features = _count(params.get("num_feature", 0), "num_feature")
    groups = max(_count(params.get("num_class", 0), "num_class"), _count(params.get("num_target", 1), "num_target"), 1)
    _check_base_score(params.get("base_score"), groups)
    booster = _object(learner["gradient_booster"], "gradient_booster")
    name = booster.get("name")
    if name == "gblinear":
        weights = _array(_object(booster["model"], "model")["weights"], np.float64, "weights")
        if weights.shape[0] != (n_features + 1) * groups:
            raise ValueError("the linear model's weights do not match its features and outputs")
        return
    if name not in ("gbtree", "dart"):
        raise ValueError(f"an unknown booster {name!r}")
    forest = _object(booster["gbtree"] if name == "dart" else booster, "gbtree")
    trees = _check_forest(_object(forest["model"], "model"), groups, n_features)
    if name == "dart" and _array(booster["weight_drop"], np.float64, "weight_drop").shape[0] != trees:
        raise ValueError("weight_drop does not have one weight per tree")


def booster_name(model: Any) -> str:
    """The model's booster (``gbtree``, ``dart`` or ``gblinear``), from a model ``check_model`` passed."""
    return model["learner"]["gradient_booster"]["name"]


def _check_forest(model: dict, groups: int, n_features: int) -> int:
    n_trees = _count(_object(model["gbtree_model_param"], "gbtree_model_param")["num_trees"], "num_trees")
    trees = model["trees"]
    if not isinstance(trees, list) or len(trees) != n_trees:
        raise ValueError("the number of trees is not num_trees")
    info = _array(model["tree_info"], np.int64, "tree_info")
    if info.shape[0] != n_trees or not _within(info, 0, groups):
        raise ValueError("tree_info does not give each tree an output of the model")
    if "iteration_indptr" in model:
        bounds = _array(model["iteration_indptr"], np.int64, "iteration_indptr")
        if bounds.shape[0] == 0 or bounds[0] != 0 or bounds[-1] != n_trees or (np.diff(bounds) < 0).any():
            raise ValueError("iteration_indptr does not split the trees into iterations")
    if "cats" in model:
        _check_encodings(_object(model["cats"], "cats"))
    for tree in trees:
        _check_tree(_object(tree, "a tree"), n_features)
    # XGBoost puts each tree in the place its id names: two trees of one id would leave a place empty, and the first
    # prediction to reach it would dereference nothing.
    ids = _array([tree["id"] for tree in trees], np.int64, "the trees' ids")
    if not np.array_equal(np.sort(ids), np.arange(n_trees)):
        raise ValueError("the trees' ids are not 0, 1, ... once each")
    return n_trees


def _check_tree(tree: dict, n_features: int) -> None:
    param = _object(tree["tree_param"], "tree_param")
    n = _count(param["num_nodes"], "num_nodes")
    width = max(_count(param.get("size_leaf_vector", 1), "size_leaf_vector"), 1)
    if n < 1:
        raise ValueError("a tree without nodes")
    left, right, parents, feature = (
        _nodes(tree, key, n, np.int64) for key in ("left_children", "right_children", "parents", "split_indices")
    )
    for key in ("split_conditions", "loss_changes", "sum_hessian"):
        _nodes(tree, key, n, np.float64)
    default_left = _nodes(tree, "default_left", n, np.int64)
    # Models saved before categorical splits existed (XGBoost < 1.5) have no split_type: every split is numerical.
    split_type = _nodes(tree, "split_type", n, np.int64) if "split_type" in tree else np.zeros(n, dtype=np.int64)
    if not (_within(default_left, 0, 2) and _within(split_type, 0, 2)):
        raise ValueError("default_left or split_type holds a value other than 0 and 1")
    if _array(tree["base_weights"], np.float64, "base_weights").shape[0] != n * width:
        raise ValueError("base_weights does not match the tree's nodes")
    leaf = left == -1
    inner = np.flatnonzero(~leaf)
    if not (_within(left, -1, n) and _within(right[inner], 0, n)):
        raise ValueError("a node's children are not nodes of its tree")
    if width == 1:
        if (right[leaf] != -1).any():
            raise ValueError("a leaf has a child")
    else:
        # A multi-output tree's leaf holds, where a right child would be, the number of its vector in leaf_weights.
        vectors = _array(tree["leaf_weights"], np.float64, "leaf_weights").shape[0]
        if vectors % width or not _within(right[leaf], 0, vectors // width):
            raise ValueError("a leaf's weights are not in leaf_weights")
    children = np.concatenate([left[inner], right[inner]])
    # Every node the root reaches is reached once: no node is the child of two, and none is the root's parent, so
    # walking down from the root can neither loop nor meet a node twice.
    if (children == 0).any() or np.unique(children).shape[0] != children.shape[0]:
        raise ValueError("a tree's nodes do not form a tree")
    if parents[0] not in _NO_PARENT or not ((parents == _NO_PARENT[1]) | _in_range(parents, -1, n)).all():
        raise ValueError("a node's parent is not a node of its tree")
    if (parents[left[inner]] != inner).any() or (parents[right[inner]] != inner).any():
        raise ValueError("a node's parent is not the node it is a child of")
    if not _within(feature[inner], 0, n_features):
        raise ValueError("a split is on a feature the model does not have")
    _check_categorical_splits(tree, n, inner[split_type[inner] == 1])


def _check_categorical_splits(tree: dict, n: int, categorical: np.ndarray) -> None:
    nodes = _array(tree.get("categories_nodes", []), np.int64, "categories_nodes")
    starts = _array(tree.get("categories_segments", []), np.int64, "categories_segments")
    sizes = _array(tree.get("categories_sizes", []), np.int64, "categories_sizes")
    categories = _array(tree.get("categories", []), np.int64, "categories")
    if not (nodes.shape == starts.shape == sizes.shape) or not _within(nodes, 0, n):
        raise ValueError("the categorical splits do not match the tree's nodes")
    if np.unique(nodes).shape[0] != nodes.shape[0] or not np.isin(categorical, nodes).all():
        raise ValueError("a categorical split has no list of categories")
    if (starts < 0).any() or (sizes < 0).any() or (starts + sizes > categories.shape[0]).any():
        raise ValueError("a categorical split's categories run past the list of them")
    if not _within(categories, 0, _MAX_CATEGORY):
        raise ValueError(f"a category code is negative or past {_MAX_CATEGORY}")


def _check_encodings(cats: dict) -> None:
    """The categories' encodings (XGBoost 3): a segment of ``sorted_idx`` per feature, whose entries index within it."""
    segments = _array(cats.get("feature_segments", []), np.int64, "feature_segments")
    order = _array(cats.get("sorted_idx", []), np.int64, "sorted_idx")
    if segments.shape[0] == 0:
        if order.shape[0]:
            raise ValueError("sorted_idx without feature_segments")
        return
    if segments[0] != 0 or segments[-1] != order.shape[0] or (np.diff(segments) < 0).any():
        raise ValueError("feature_segments does not split sorted_idx")
    sizes = np.diff(segments)
    if not (order >= 0).all() or not (order < np.repeat(sizes, sizes)).all():
        raise ValueError("sorted_idx points outside its feature's categories")


def _check_base_score(value: Any, groups: int) -> None:
    if value is None:
        return
    try:
        score = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise ValueError("base_score is not a number") from exc
    scores = np.atleast_1d(_array(score, np.float64, "base_score"))
    if scores.ndim != 1 or scores.shape[0] not in (1, groups):
        raise ValueError("base_score does not give one value per output")


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _count(value: Any, what: str) -> int:
    """A non-negative integer, as XGBoost writes its parameters: a string of digits, or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
        raise ValueError(f"{what} is not an integer")
    text = str(value)
    if not text.isdigit() or len(text) > 12:
        raise ValueError(f"{what} is not a count")
    return int(text)


def _array(value: Any, dtype: type, what: str) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind not in "biuf" or array.ndim > 1:
            raise ValueError
        # Whole numbers only, where integers are wanted: a fraction or a NaN would be cut to some other node.
        whole = array.dtype.kind != "f" or (np.isfinite(array) & (array == np.round(array))).all()
        if dtype is np.int64 and not whole:
            raise ValueError
        return array.astype(dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{what} is not an array of numbers") from exc


def _nodes(tree: dict, key: str, n: int, dtype: type) -> np.ndarray:
    array = _array(tree[key], dtype, key)
    if array.shape[0] != n:
        raise ValueError(f"{key} does not have one entry per node")
    return array


def _in_range(values: np.ndarray, low: int, high: int) -> np.ndarray:
    return (values >= low) & (values < high)


def _within(values: np.ndarray, low: int, high: int) -> bool:
    return bool(_in_range(values, low, high).all())
