import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from lapa_fixture import make_lapa  # noqa: E402

FASSEG = (REPO.parent / "shared" / "data" / "fasseg").resolve()


@pytest.fixture(scope="session")
def fasseg_root():
    if not (FASSEG / "V1").is_dir():
        pytest.fail(f"the FASSEG copy is missing at {FASSEG} (see README: Tests)")
    return FASSEG


@pytest.fixture(scope="session")
def lapa_root(tmp_path_factory):
    return make_lapa(tmp_path_factory.mktemp("lapa"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
