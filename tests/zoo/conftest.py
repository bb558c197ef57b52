"""Fixtures for the ``zoo`` layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from zoo import native


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: intra-op threads only add synchronisation waits on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_kernels() -> Iterator[None]:
    """The compiled-kernel library is looked up again in the test (which may set
    ``ZOO_NATIVE_KERNELS`` or ``ZOO_KERNEL_CACHE``) and after it."""
    native.kernel_library.cache_clear()
    yield
    native.kernel_library.cache_clear()


@pytest.fixture(params=["native", "torch"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
            fresh_kernels: None) -> str:
    """Run a test once with the compiled kernels and once with their torch fallback."""
    if request.param == "torch":
        monkeypatch.setenv("ZOO_NATIVE_KERNELS", "0")
        assert native.kernel_library() is None
    elif native.kernel_library() is None:
        pytest.skip("no C compiler here: only the torch fallback can be tested")
    return str(request.param)
