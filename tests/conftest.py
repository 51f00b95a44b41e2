"""Shared helpers: small random problems for every loss; the playground served, its test client,
and Debian's Chromium driven by Playwright (never a browser downloaded by Playwright)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

# (loss, output activation, number of outputs)
LOSS_OUTPUTS = [
    ("cross_entropy", "softmax", 3),
    ("binary_cross_entropy", "sigmoid", 1),
    ("binary_cross_entropy", "sigmoid", 3),  # multi-label
    ("squared_error", "identity", 2),
    ("squared_error", "sigmoid", 2),
    ("squared_error", "tanh", 1),
    ("squared_error", "relu", 2),
    ("squared_error", "softmax", 3),
    ("poisson", "exp", 2),
]


def targets(loss: str, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random targets of the form each loss takes."""
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    return rng.normal(size=(n, k))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled handwritten digits, scaled to [0, 1], split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def small_net(loss: str = "cross_entropy", **kwargs) -> cr.Network:
    k = {"cross_entropy": 3}.get(loss, 2)
    return cr.Network.from_sizes([4, 5, k], loss=loss, seed=0, **kwargs)


# ------------------------------------------------------------------------------- the playground
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from Debian's ``chromium`` package (a failure in CI if it is missing)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "Debian's chromium is missing: apt-get install -y chromium (the README test command does)"
            )
        pytest.skip("no /usr/bin/chromium here: apt-get install -y chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def url():
    """The address of a playground served on 127.0.0.1 for the module's tests."""
    from chainrule.playground import running

    with running() as address:
        yield address


@pytest.fixture
def client():
    """The playground app behind FastAPI's test client (no server, no socket)."""
    from fastapi.testclient import TestClient

    from chainrule.playground import create_app

    return TestClient(create_app(), base_url="http://127.0.0.1")
