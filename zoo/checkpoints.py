"""Reading user-supplied checkpoints and architecture files safely.

Pickled checkpoints (``.pt``/``.pth``) are opened with ``torch.load(weights_only=True)``
only: arbitrary Python objects are refused, never unpickled.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, cast

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from store.errors import InvalidInputError
from store.records import check_json

__all__ = ["load_arch", "load_state_dict_file", "state_dict_to_safetensors"]

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def state_dict_to_safetensors(state: dict[str, torch.Tensor]) -> bytes:
    """Serialise a flat ``{name: tensor}`` dict to safetensors bytes (contiguous CPU copies)."""
    clean = {k: v.detach().cpu().contiguous() for k, v in sorted(state.items())}
    return bytes(st_save(clean))


def _flatten_state(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise InvalidInputError(f"{path}: not a state dict of tensors; save model.state_dict()")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InvalidInputError(
                f"{path}: entry {key!r} is not a tensor; save model.state_dict() of tensors only"
            )
        out[key] = value
    return out


def load_state_dict_file(path: str | Path) -> tuple[dict[str, torch.Tensor], bytes]:
    """Load a checkpoint file as ``(state_dict, safetensors_bytes)``.

    Accepts ``.safetensors`` and pickled state dicts (``.pt``/``.pth``, loaded with
    ``weights_only=True``). Raises ``InvalidInputError`` with a one-line reason
    for a missing file, a non-checkpoint, or a pickle holding arbitrary objects.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"no such file: {p}")
    if not p.is_file():
        raise InvalidInputError(f"{p} is not a file")
    data = p.read_bytes()
    if p.suffix == ".safetensors":
        try:
            state = st_load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise InvalidInputError(f"{p}: not a valid safetensors checkpoint ({exc})") from exc
        if not state:
            raise InvalidInputError(f"{p}: the checkpoint holds no tensors")
        return state, state_dict_to_safetensors(state)
    if p.suffix in PICKLE_SUFFIXES:
        if not (data.startswith(b"PK\x03\x04") or data.startswith(b"\x80")):
            raise InvalidInputError(f"{p}: not a PyTorch checkpoint (neither zip nor pickle)")
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "unsupported global" not in str(exc).lower():
                msg = f"{p}: not a PyTorch checkpoint (unreadable pickle)"
                raise InvalidInputError(msg) from exc
            raise InvalidInputError(
                f"{p}: refusing to unpickle arbitrary Python objects (loaded with "
                "weights_only=True); re-save it as a state dict of tensors or as .safetensors"
            ) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(f"{p}: not a PyTorch checkpoint ({first})") from exc
        state = _flatten_state(obj, p)
        return state, state_dict_to_safetensors(state)
    raise InvalidInputError(
        f"{p}: unsupported checkpoint type {p.suffix or '(no suffix)'}; "
        "use .safetensors or a state dict saved as .pt/.pth"
    )


def load_arch(value: str | None) -> dict[str, Any]:
    """Parse an architecture description: a path to a JSON file, or inline JSON.

    Returns ``{}`` when ``value`` is ``None``. The JSON must be an object of strict
    JSON (no NaN or Infinity) nested at most ``store.validation.JSON_MAX_DEPTH`` deep;
    a missing file, a directory or an unreadable file is an ``InvalidInputError``.
    """
    if value is None:
        return {}
    text, source = value, "--arch"
    if not value.lstrip().startswith("{"):
        p = Path(value)
        if not p.exists():
            raise InvalidInputError(f"no such architecture file: {p}")
        if not p.is_file():
            raise InvalidInputError(f"--arch {p} is not a file: give a JSON file or object")
        try:
            text, source = p.read_text(encoding="utf-8", errors="replace"), str(p)
        except OSError as exc:
            raise InvalidInputError(f"cannot read --arch {p}: {exc.strerror}") from exc
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise InvalidInputError(f"{source}: the architecture is nested too deeply") from exc
    if not isinstance(parsed, dict):
        raise InvalidInputError(f"{source}: the architecture must be a JSON object")
    return cast(dict[str, Any], check_json(parsed, source))


def _refuse_constant(name: str) -> Any:
    raise InvalidInputError(f"--arch holds {name}: JSON numbers must be finite")
