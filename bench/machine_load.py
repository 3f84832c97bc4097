"""A loaded machine for the benches: busy loops on the cores while a figure is measured."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def busy_loops(count: int) -> Iterator[None]:
    """`count` processes spinning on a core each, for as long as the block runs."""
    ctx = multiprocessing.get_context("spawn")
    loops = [ctx.Process(target=_spin, daemon=True) for _ in range(count)]
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.terminate()
            loop.join()


def _spin() -> None:
    while True:
        pass
