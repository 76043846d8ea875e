"""Shared test set-up: ``test/`` mirrors the package (``test/<subpackage>/test_<module>.py``);
helper modules that build test data live in ``test/helpers/`` and are importable by name
(``from ros_node_harness import Harness``); fixtures used across subpackages are here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TEST_DIR = Path(__file__).resolve().parent
REPO = TEST_DIR.parent
sys.path.insert(0, str(TEST_DIR / "helpers"))


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained lite0-96x320 full model whose AV-LFE output is perturbed (stereo != mono),
    saved once per test module (``eval_fixtures.make_checkpoint``)."""
    from eval_fixtures import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "net")


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synth-street frames at 96x320 (seed 5), generated once per test module."""
    from eval_fixtures import make_data

    return make_data(tmp_path_factory.mktemp("synth") / "data")
