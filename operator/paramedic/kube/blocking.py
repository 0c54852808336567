"""Calling the (blocking) kubernetes client from the event loop without stalling it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(executor: Executor | None, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in ``executor`` (the loop's default when None), awaited."""
    if kwargs:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args, **kwargs))
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
