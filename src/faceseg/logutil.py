"""Logging for rule scripts: everything, a failure's traceback included, goes to the rule's log."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path


@contextlib.contextmanager
def rule_log(path):
    """Send logging and stderr to ``path``; log an exception (with its file) before re-raising it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("faceseg")
        except Exception as exc:
            logging.getLogger("faceseg").error("FAILED: %s: %s", type(exc).__name__, exc, exc_info=True)
            print(f"faceseg: {type(exc).__name__}: {exc} (log: {path})", file=sys.__stderr__)
            raise
        finally:
            root.removeHandler(handler)


def progress(iterable, desc: str, total: int | None = None):
    """A tqdm progress bar on stderr (the rule's log inside a rule), updated at most every 10 s."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, mininterval=10, ascii=True, ncols=100)


class ShardTimer:
    """Seconds a shard job spends on its images, apart from its start-up (interpreter, imports, models).

    :meth:`report` logs ``shard compute S s for N images``: the benchmark
    reads that line beside the job's benchmark file to tell the two apart.
    """

    def __init__(self, step: str):
        self.step = step
        self.seconds: list[float] = []

    @contextlib.contextmanager
    def image(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.append(time.perf_counter() - start)

    def report(self) -> dict:
        total = sum(self.seconds)
        logging.getLogger("faceseg").info("%s: shard compute %.3f s for %d images", self.step, total,
                                          len(self.seconds))
        return {"images": len(self.seconds), "compute_seconds": total}
