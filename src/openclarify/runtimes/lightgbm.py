"""LightGBM models saved with ``Booster.save_model`` in LightGBM's text format (data only)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from openclarify.runtimes.tabular import TabularRuntime

_TREE_SIZES = re.compile(r"^tree_sizes=(.*)\n", re.MULTILINE)


class LightGBMRuntime(TabularRuntime):
    kind = "LightGBM"
    extra = "lightgbm"
    filenames = ("model.txt", "model.bst", "model.lgb")
    hint = "Save it with Booster.save_model('model.txt')."

    def _load(self, path: Path) -> None:
        import lightgbm

        # Check the magic first: LightGBM's parser is lenient about garbage and may log it.
        with path.open("rb") as f:
            if not f.read(6).startswith((b"tree\n", b"tree\r\n")):
                raise ValueError("not a LightGBM text model")
        text = complete_model_text(path.read_bytes().decode("utf-8"))
        self._booster = lightgbm.Booster(model_str=text)
        self.n_features = self._booster.num_feature() or None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self._booster.predict(X)


def complete_model_text(text: str) -> str:
    """The model text LightGBM is given, or ValueError for one that is cut short.

    LightGBM's loader crashes the whole process on a truncated file (SIGSEGV reading past the end, or
    std::terminate when a tree fails to parse inside its parallel loop), and a file cut between two trees loads
    without a word, as a model of fewer trees. So the trees must fill exactly the sizes the header declares and be
    followed by their end marker, and a parameters section must be closed. The header's ``tree_sizes`` line is then
    left out: without it LightGBM parses the trees one after another, where a damaged one raises an error instead
    of aborting. Windows line ends (a model checked out with git's autocrlf, say) are read as line ends: LightGBM
    counts them into the declared sizes and aborts on such a file, complete as it is."""
    text = text.replace("\r\n", "\n")
    end = text.find("\nend of trees\n")
    if end < 0:
        raise ValueError("the model's trees are not complete")
    sizes = _TREE_SIZES.search(text, 0, end)
    if sizes is not None:
        position = text.find("\nTree=", sizes.end() - 1) + 1
        for size in (int(s) for s in sizes.group(1).split()):
            if not text.startswith("Tree=", position):
                raise ValueError("the model's trees do not match their declared sizes")
            position += size
        if position != end + 1:
            raise ValueError("the model's trees do not match their declared sizes")
        text = text[: sizes.start()] + text[sizes.end() :]
        end = text.find("\nend of trees\n")
    parameters = text.find("\nparameters:\n", end)
    if parameters >= 0 and text.find("\nend of parameters\n", parameters) < 0:
        raise ValueError("the model's parameters are not complete")
    return text
