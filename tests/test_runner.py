"""The runner's loop: work submitted from its own thread (a batch's workers) behaves as from any other."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError, Future

import pytest

from ling_notebook.runner import Runner, _shutdown


@pytest.fixture
def runner():
    return Runner()


def on_loop(runner: Runner, make):
    """Run `make()` on the loop's thread and return what it returns."""

    async def call():
        return make()

    return asyncio.run_coroutine_threadsafe(call(), runner.loop).result(5)


def test_work_submitted_on_the_loop_gives_its_result(runner):
    async def work():
        await asyncio.sleep(0)
        return 42

    assert on_loop(runner, lambda: runner.submit(work())).result(5) == 42


def test_work_submitted_on_the_loop_gives_its_error(runner):
    async def work():
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        on_loop(runner, lambda: runner.submit(work())).result(5)


def test_cancelling_from_another_thread_cancels_work_submitted_on_the_loop(runner):
    started, cancelled = threading.Event(), threading.Event()

    async def work():
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = on_loop(runner, lambda: runner.submit(work()))
    assert started.wait(5)
    assert future.cancel()
    assert cancelled.wait(5)
    with pytest.raises(CancelledError):
        future.result(5)


def test_work_submitted_on_the_loop_starts_without_a_turn_through_the_thread_safe_queue(runner):
    # A batch's next item is sent at once: its task exists when submit returns.
    def submit():
        before = len(asyncio.all_tasks(runner.loop))
        runner.submit(asyncio.sleep(0))
        return len(asyncio.all_tasks(runner.loop)) - before

    assert on_loop(runner, submit) == 1


@pytest.mark.parametrize("where", ["loop", "other thread"])
def test_ended_wakes_when_the_future_settles(runner, where):
    future: Future[None] = Future()

    async def wait():
        await runner.ended(future)
        return "woke"

    waiting = asyncio.run_coroutine_threadsafe(wait(), runner.loop)
    if where == "loop":
        runner.loop.call_soon_threadsafe(future.set_result, None)
    else:
        future.set_result(None)
    assert waiting.result(5) == "woke"


def test_cancelling_a_wait_leaves_the_future_alone(runner):
    future: Future[None] = Future()
    waiting = asyncio.run_coroutine_threadsafe(runner.ended(future), runner.loop)
    waiting.cancel()
    with pytest.raises(CancelledError):
        waiting.result(5)
    assert not future.done()


def test_a_runner_dropped_on_its_own_thread_stops_without_an_error(runner):
    # Callbacks of work submitted on the loop may hold the last reference to the runner: its finalizer then runs
    # on the loop's thread, which cannot join itself.
    errors: list[BaseException] = []
    called = threading.Event()

    def finalize_here():
        try:
            _shutdown(runner.loop, runner._thread)
        except BaseException as error:  # noqa: BLE001 - the test reports it
            errors.append(error)
        called.set()

    runner.loop.call_soon_threadsafe(finalize_here)
    assert called.wait(5)
    runner._thread.join(5)
    assert errors == []
    assert not runner._thread.is_alive()
