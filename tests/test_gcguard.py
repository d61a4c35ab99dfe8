"""A task on a Dask worker runs with automatic collections held off on the CPython
releases whose sys._current_frames() deadlocks with a collection (gh-106883); the
last task to end collects and turns them back on."""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import pytest

from stillframe.distributed import _gcguard
from stillframe.distributed._gcguard import collections_held


class Node:
    pass


def _cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a  # garbage only a collection frees
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def collections_on():
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_the_affected_releases_are_named():
    v = sys.version_info[:3]
    assert _gcguard.AFFECTED == ((3, 11) <= v < (3, 11, 9) or (3, 12) <= v < (3, 12, 3))


def test_collections_are_off_inside_and_the_garbage_is_collected_at_the_end():
    with collections_held(affected=True):
        assert not gc.isenabled()
        ref = _cycle()
        assert ref() is not None
    assert gc.isenabled() and ref() is None


def test_overlapping_tasks_turn_them_back_on_once_the_last_ends():
    inside, release = threading.Barrier(2), threading.Event()
    seen = []

    def task() -> None:
        with collections_held(affected=True):
            inside.wait(10)
            release.wait(10)
            seen.append(gc.isenabled())

    first = threading.Thread(target=task)
    first.start()
    with collections_held(affected=True):
        inside.wait(10)
        release.set()
        first.join(10)
        assert seen == [False] and not gc.isenabled()  # the other task ended: still off
    assert gc.isenabled()


def test_a_caller_who_turned_them_off_keeps_them_off():
    gc.disable()
    with collections_held(affected=True):
        pass
    assert not gc.isenabled()


def test_releases_without_the_bug_are_left_alone():
    with collections_held(affected=False):
        assert gc.isenabled()


def test_each_dask_task_runs_inside_the_guard():
    from stillframe.distributed._runners import _held

    assert _held(gc.isenabled) is not _gcguard.AFFECTED  # off inside where the release is affected
    assert gc.isenabled()
