"""Progress and closing summaries of the long commands, on stderr (stdout stays pipeable).

On a terminal, a Rich bar per stage, labelled with what that stage does. Elsewhere (a
log, a pipe, a test) nothing but plain lines: the milestones a command reports (an
epoch, a stored chunk) and, while a stage runs, a heartbeat line at least every
``ZOO_PROGRESS_SECONDS`` seconds (default 30), so a log never goes silent for minutes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.progress import TaskID

from zoo.cli._common import make_progress, note, stderr

if TYPE_CHECKING:
    from zoo.outcomes import ModelOutcome
    from zoo.settings import Locations
    from zoo.train import StepProgress

__all__ = ["ProgressView", "heartbeat_seconds", "print_summary"]


def heartbeat_seconds() -> float:
    """Seconds between plain progress lines off a terminal (env ``ZOO_PROGRESS_SECONDS``,
    default 30; 0 prints every update)."""
    try:
        return max(float(os.environ.get("ZOO_PROGRESS_SECONDS", "30")), 0.0)
    except ValueError:
        return 30.0


@dataclass
class _Stage:
    """What a stage last said (printed again by the heartbeat)."""

    label: str
    completed: float = 0.0
    total: float | None = None
    status: str = ""
    last_line: float = 0.0
    finished: bool = False
    counted: bool = True  # the line shows completed/total (a batch status has its own)

    def line(self) -> str:
        # fractions of a unit (a study's epoch counted by batches) show as a percentage
        whole = float(self.completed).is_integer()
        count = (f"{self.completed:g}" + (f"/{self.total:g}" if self.total else "")
                 if whole or not self.total
                 else f"{100 * self.completed / self.total:.0f}% of {self.total:g}")
        shown = [count] if self.counted else []
        return f"{self.label}: " + " ".join([*shown, self.status]).strip()


class ProgressView:
    """Stages of a long command (use as a context manager around the work).

    ``start`` opens a stage (a bar on a terminal), ``update`` moves it (``line=True``: a
    milestone, printed off a terminal too), ``say`` prints a line above the bars, and
    :meth:`on_step` is a :func:`zoo.train.report_progress` hook: every training,
    validation and recording batch of this process moves a stage labelled
    ``CONTEXT epoch 2/5 train`` (``context`` says which model).
    """

    def __init__(self, context: str = "") -> None:
        self.progress = make_progress()
        self.context = context
        self.every = heartbeat_seconds()
        self._tasks: dict[str, TaskID] = {}
        self._stages: dict[str, _Stage] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def terminal(self) -> bool:
        """True when bars are drawn (stderr is a terminal)."""
        return not self.progress.disable

    def __enter__(self) -> ProgressView:
        self.progress.__enter__()
        if not self.terminal and self.every > 0:
            self._thread = threading.Thread(target=self._beat, name="zoo-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.progress.__exit__(kind, exc, tb)

    def start(self, key: str, label: str, total: float | None = None, *,
              counted: bool = True) -> None:
        """Open stage ``key`` labelled ``label`` (again: re-label and re-size it); off a
        terminal it is announced, and its lines show ``completed/total``, unless
        ``counted`` is false (a batch stage, whose status counts)."""
        with self._lock:
            stage = self._stages.get(key)
            if stage is None:
                self._stages[key] = _Stage(label, total=total, last_line=time.monotonic(),
                                           counted=counted)
                self._tasks[key] = self.progress.add_task(label, total=total, status="")
                if counted and not self.terminal:
                    note(f"• {label}" + (f" (0/{total:g})" if total else ""))
                return
            stage.label, stage.total, stage.finished = label, total, False
        self.progress.update(self._tasks[key], description=label, total=total)

    def update(self, key: str, completed: float, status: str = "", *, line: bool = False,
               total: float | None = None) -> None:
        """Move stage ``key`` to ``completed``; off a terminal a line is printed when
        ``line`` (a milestone), when the stage finishes, or as the heartbeat."""
        now = time.monotonic()
        with self._lock:
            stage = self._stages[key]
            stage.completed, stage.status = completed, status
            if total is not None:
                stage.total = total
            done = stage.total is not None and completed >= stage.total
            finishing = done and not stage.finished and stage.counted
            print_it = not self.terminal and (line or finishing
                                              or now - stage.last_line >= self.every)
            stage.finished = done
            if print_it:
                stage.last_line = now
        self.progress.update(self._tasks[key], completed=completed, status=status,
                             total=stage.total)
        if print_it:
            note(stage.line())

    def say(self, message: str) -> None:
        """A line of news (above the bars on a terminal, a plain line elsewhere)."""
        if self.terminal:
            self.progress.console.print(message, markup=False, highlight=False)
        else:
            note(message)

    def on_step(self, step: StepProgress) -> None:
        """A :func:`zoo.train.report_progress` hook: one stage per pass kind."""
        key = f"step:{step.stage}"
        label = f"{self.context} {step.label}".strip()
        if key not in self._stages or self._stages[key].label != label:
            self.start(key, label, step.total, counted=False)
        self.update(key, step.done, step.status, total=step.total)

    def _beat(self) -> None:
        """Off a terminal: re-print each running stage that has been quiet too long."""
        while not self._stop.wait(min(self.every, 1.0)):
            now = time.monotonic()
            with self._lock:
                quiet = [s for s in self._stages.values()
                         if not s.finished and now - s.last_line >= self.every]
                for stage in quiet:
                    stage.last_line = now
            for stage in quiet:
                note(f"{stage.line()} (still running)")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def print_summary(loc: Locations, seconds: float, created: Sequence[str],
                  outcomes: Sequence[ModelOutcome] = (), found: Sequence[str] = (),
                  extra: Sequence[str] = ()) -> None:
    """The closing lines of a long command, on stderr: what it created (``created``; what
    was stored already, ``found``), where (catalog URL and arrays root), how long it
    took, and every model of ``outcomes`` within 2 points of chance."""
    from zoo.outcomes import CHANCE_MARGIN

    what = "; ".join(created) if created else "nothing new"
    lines = [f"done in {_duration(seconds)}: {'created ' if created else ''}{what}"]
    if found:
        lines.append(f"  already stored: {'; '.join(found)}")
    lines.append(f"  catalog {_plain_url(loc.db_url)}, arrays {loc.arrays_url}")
    lines.extend(f"  {x}" for x in extra)
    near: list[Any] = [o for o in outcomes if o.near_chance]
    for o in near:
        lines.append(f"  near chance: {o.name} {o.split} acc {o.accuracy:.3f}, chance "
                     f"{o.chance:.3f} (not {CHANCE_MARGIN * 100:.0f} points above it: it has "
                     "not learnt yet; more epochs or another lr)")
    for text in lines:
        stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def _plain_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show it as given
        return url
