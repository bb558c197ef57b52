"""Optional compiled kernels for hot loops, built on first use, with torch fallbacks.

The C files of this package (``siren.c`` for INR fitting, ``pna.c`` for the GMN's
neighbourhood statistics) are compiled together on first use with the system C compiler
(``-O3 -march=native``, plain C that the compiler vectorises) into a per-user cache keyed by
the sources, the flags and the CPU, and loaded with :mod:`ctypes`: no build step, no torch
headers. Each kernel has a torch fallback in its wrapper module (:mod:`zoo.native.siren`,
:mod:`zoo.native.pna`), used without a C compiler, on a failed build, for tensors that are
not contiguous float32 on the CPU, or with ``ZOO_NATIVE_KERNELS=0``. ``ZOO_KERNEL_CACHE``
moves the cache, ``CC`` picks the compiler.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["kernel_library", "native_enabled", "plain_float32", "pointer"]

_SOURCES = tuple(Path(__file__).with_name(name) for name in ("siren.c", "pna.c"))
_HEADERS = (Path(__file__).with_name("common.h"),)
_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math",
          "-fopenmp-simd", "-shared", "-fPIC")
_PTR, _I64, _F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
#: argument types of every exported kernel (all return void)
_SIGNATURES: dict[str, list[type]] = {
    "zoo_sincos": [_PTR] * 3 + [_I64],
    "zoo_grid_compose": [_PTR] * 6 + [_I64] * 4,
    "zoo_mul_grid_sums": [_PTR] * 4 + [_I64] * 4,
    "zoo_output_layer_backward": [_PTR] * 5 + [_F32] + [_PTR] * 4 + [_I64] * 4,
    "zoo_block_stats": [_PTR] * 7 + [_I64] * 3,
    "zoo_block_stats_backward": [_PTR] * 8 + [_I64] * 3,
}
_log = logging.getLogger(__name__)


def native_enabled() -> bool:
    """Whether compiled kernels may be used (``ZOO_NATIVE_KERNELS`` is not ``0``/``false``)."""
    return os.environ.get("ZOO_NATIVE_KERNELS", "1").strip().lower() not in ("0", "false", "no")


def plain_float32(*tensors: Tensor) -> bool:
    """Whether the kernels can read these tensors as plain float32 arrays."""
    return all(t.dtype == torch.float32 and t.device.type == "cpu" and t.is_contiguous()
               for t in tensors)


def pointer(tensor: Tensor | None) -> int | None:
    """A tensor's data address for a kernel argument; ``None`` (a NULL pointer: "not
    wanted") for no tensor or an empty placeholder."""
    return tensor.data_ptr() if tensor is not None and tensor.numel() else None


def _cache_dir() -> Path:
    root = os.environ.get("ZOO_KERNEL_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return base if os.environ.get("ZOO_KERNEL_CACHE") else base / "model-zoo" / "kernels"


def _cpu_signature() -> str:
    """Machine and CPU feature flags: a library built with -march=native runs only there."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line
                break
    except OSError:
        pass
    return f"{platform.machine()} {flags}"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _build(compiler: str, target: Path) -> None:
    """Compile the C sources to ``target`` atomically (concurrent builders do not clash)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *_FLAGS, *map(str, _SOURCES), "-o", tmp, "-lm"], check=True,
                       capture_output=True, text=True, timeout=120)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def kernel_library() -> ctypes.CDLL | None:
    """The compiled kernels, built on first call; ``None`` when unavailable (then torch is used).

    The result is cached for the process (and inherited by forked workers).
    """
    if not native_enabled():
        return None
    compiler = _compiler()
    if compiler is None:
        _log.info("no C compiler found: kernels fall back to torch operators")
        return None
    texts = [path.read_text() for path in (*_SOURCES, *_HEADERS)]
    key = hashlib.sha256("\0".join([*texts, compiler, *_FLAGS,
                                    _cpu_signature()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"zoo_kernels_{key}.so"
    try:
        if not target.exists():
            _build(compiler, target)
        lib = ctypes.CDLL(str(target))
        for name, argtypes in _SIGNATURES.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = None
    except (OSError, AttributeError, subprocess.SubprocessError) as err:
        lines = str(getattr(err, "stderr", "") or err).strip().splitlines() or [""]
        _log.warning("compiling the zoo's C kernels failed, using torch operators (slower): "
                     "%s", lines[0])
        return None
    return lib
