from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from cpimock.errors import HandlerLoadError
from cpimock.message import Message
from cpimock.steps.pipeline import Pipeline, StepError, StepTimeout, load_pipeline
from cpimock.steps.threads import DaemonThreads


def write(path: Path, source: str) -> None:
    """Write a step file and move its mtime forward, so a rewrite is seen whatever the clock resolution."""
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(textwrap.dedent(source))
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path


def msg(body: bytes = b"hi", content_type: str = "text/plain") -> Message:
    return Message(body, {"Content-Type": content_type}, None)


# -- loading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["iflows/a.py", "process", ":process", "iflows/a.py:", "a b:c", "iflows/a.py:1x"])
def test_malformed_reference_says_what_is_expected(workspace: Path, ref: str) -> None:
    with pytest.raises(HandlerLoadError, match=r"expected 'path/to/file\.py:function'"):
        load_pipeline([ref], workspace)


def test_missing_file_names_the_path(workspace: Path) -> None:
    with pytest.raises(HandlerLoadError, match=r"iflows/nope\.py: step file not found \(looked for .*nope\.py\)"):
        load_pipeline(["iflows/nope.py:process"], workspace)


def test_missing_function_lists_what_the_file_defines(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "def process(m): return m\ndef other(m): return m\n")
    with pytest.raises(HandlerLoadError, match="no function 'proces' in the module; it defines: other, process"):
        load_pipeline(["iflows/a.py:proces"], workspace)


def test_not_callable_is_refused(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "process = 3\n")
    with pytest.raises(HandlerLoadError, match="'process' is a int, not a function"):
        load_pipeline(["iflows/a.py:process"], workspace)


def test_syntax_error_names_file_and_line(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "def process(m):\n    return m +\n")
    with pytest.raises(HandlerLoadError, match=r"importing the file failed: SyntaxError: .*a\.py:2\)"):
        load_pipeline(["iflows/a.py:process"], workspace)


def test_import_error_inside_the_user_file_shows_its_own_error(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "import json\nimport no_such_dependency_xyz\ndef process(m): return m\n")
    with pytest.raises(HandlerLoadError) as info:
        load_pipeline(["iflows/a.py:process"], workspace)
    assert "No module named 'no_such_dependency_xyz'" in str(info.value)
    assert "a.py:2" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)  # the user's traceback travels along


def test_module_reference_that_does_not_exist(workspace: Path) -> None:
    with pytest.raises(HandlerLoadError, match=r"could not import module 'no_such_pkg_xyz\.steps'"):
        load_pipeline(["no_such_pkg_xyz.steps:process"], workspace)


def test_module_reference_whose_import_fails_inside_is_not_reported_as_missing(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workspace / "pkg_inner_fail/__init__.py", "")
    write(workspace / "pkg_inner_fail/steps.py", "import missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(workspace))
    with pytest.raises(HandlerLoadError) as info:
        load_pipeline(["pkg_inner_fail.steps:process"], workspace)
    assert "could not import" not in str(info.value)
    assert "No module named 'missing_dependency_xyz'" in str(info.value)
    assert "steps.py:1" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


async def test_module_reference_runs(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(workspace / "pkg_ok_steps.py", "def shout(m):\n    m.body = m.text.upper()\n")
    monkeypatch.syspath_prepend(str(workspace))
    pipeline = load_pipeline(["pkg_ok_steps:shout"], workspace)
    assert (await pipeline.run(msg(b"hi"), 5)).body == b"HI"


def test_no_bytecode_is_written_into_the_workspace(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "def process(m): return m\n")
    load_pipeline(["iflows/a.py:process"], workspace)
    assert not (workspace / "iflows/__pycache__").exists()


# -- running ---------------------------------------------------------------------------------------


async def test_no_steps_is_the_echo(workspace: Path) -> None:
    message = msg(b"\x00\x01", "application/octet-stream")
    result = await load_pipeline([], workspace).run(message, 5)
    assert result is message
    assert result.body == b"\x00\x01"
    assert result.headers["Content-Type"] == "application/octet-stream"


async def test_sync_steps_run_off_the_event_loop_and_async_steps_on_it(workspace: Path) -> None:
    write(
        workspace / "iflows/where.py",
        """
        import threading

        def sync_step(message):
            message.properties["sync"] = threading.current_thread().name

        async def async_step(message):
            message.properties["async"] = threading.current_thread().name
            return message
        """,
    )
    pipeline = load_pipeline(["iflows/where.py:sync_step", "iflows/where.py:async_step"], workspace)
    result = await pipeline.run(msg(), 5)
    assert result.properties["sync"] != threading.current_thread().name
    assert result.properties["async"] == threading.current_thread().name


async def test_callable_object_with_async_call_and_sync_step_returning_a_coroutine(workspace: Path) -> None:
    write(
        workspace / "iflows/odd.py",
        """
        class Step:
            async def __call__(self, message):
                message.body = message.body + b"1"

        step = Step()

        async def _later(message):
            message.body = message.body + b"2"
            return message

        def returns_coroutine(message):
            return _later(message)
        """,
    )
    pipeline = load_pipeline(["iflows/odd.py:step", "iflows/odd.py:returns_coroutine"], workspace)
    assert (await pipeline.run(msg(b"0"), 5)).body == b"012"


async def test_a_step_may_return_a_new_message(workspace: Path) -> None:
    write(
        workspace / "iflows/new.py", "from cpimock.message import Message\ndef p(m): return Message(b'new', {}, {})\n"
    )
    assert (await load_pipeline(["iflows/new.py:p"], workspace).run(msg(), 5)).body == b"new"


async def test_exception_becomes_step_error_with_the_original_as_cause(workspace: Path) -> None:
    write(workspace / "iflows/bad.py", "def p(m):\n    raise KeyError('orderId')\n")
    with pytest.raises(StepError, match=r"step 'iflows/bad.py:p' raised KeyError: 'orderId'") as info:
        await load_pipeline(["iflows/bad.py:p"], workspace).run(msg(), 5)
    assert info.value.step == "iflows/bad.py:p"
    assert isinstance(info.value.__cause__, KeyError)
    assert not isinstance(info.value, StepTimeout)


@pytest.mark.parametrize("body", ["raise SystemExit(3)", "import sys; sys.exit()"])
async def test_sys_exit_in_a_step_fails_only_the_message(workspace: Path, body: str) -> None:
    write(workspace / "iflows/exit.py", f"def p(m):\n    {body}\n")
    with pytest.raises(StepError, match="raised SystemExit"):
        await load_pipeline(["iflows/exit.py:p"], workspace).run(msg(), 5)


async def test_a_step_raising_timeout_error_itself_is_not_a_step_timeout(workspace: Path) -> None:
    write(workspace / "iflows/t.py", "async def p(m):\n    raise TimeoutError('receiver did not answer')\n")
    with pytest.raises(StepError, match="receiver did not answer") as info:
        await load_pipeline(["iflows/t.py:p"], workspace).run(msg(), 5)
    assert not isinstance(info.value, StepTimeout)


@pytest.mark.parametrize("returned", ["'text'", "{}", "m.body", "42"])
async def test_wrong_return_type_is_a_step_error(workspace: Path, returned: str) -> None:
    write(workspace / "iflows/wrong.py", f"def p(m):\n    return {returned}\n")
    with pytest.raises(StepError, match=r"returned \w+; return the Message or None") as info:
        await load_pipeline(["iflows/wrong.py:p"], workspace).run(msg(), 5)
    assert info.value.step == "iflows/wrong.py:p"


async def test_hung_sync_step_times_out_and_does_not_block_other_requests(workspace: Path) -> None:
    write(
        workspace / "iflows/hang.py",
        """
        import threading
        release = threading.Event()

        def hang(message):
            release.wait(30)

        def quick(message):
            message.body = b"quick"
        """,
    )
    hang = load_pipeline(["iflows/hang.py:hang"], workspace)
    quick = load_pipeline(["iflows/hang.py:quick"], workspace)
    hung = [asyncio.create_task(hang.run(msg(), 0.2)) for _ in range(40)]  # more than any default pool
    assert (await quick.run(msg(), 5)).body == b"quick"
    for task in hung:
        with pytest.raises(StepTimeout, match=r"step 'iflows/hang.py:hang' ran past the iFlow's timeout of 0.2 s"):
            await task
    assert (await quick.run(msg(), 5)).body == b"quick"
    module = sys.modules[next(n for n in sys.modules if n.startswith("cpimock_step_hang_"))]
    module.release.set()


async def test_async_step_timeout(workspace: Path) -> None:
    write(workspace / "iflows/slow.py", "import asyncio\nasync def p(m):\n    await asyncio.sleep(30)\n")
    with pytest.raises(StepTimeout) as info:
        await load_pipeline(["iflows/slow.py:p"], workspace).run(msg(), 0.05)
    assert info.value.step == "iflows/slow.py:p"
    assert isinstance(info.value, StepError)


async def test_a_step_that_swallows_the_timeout_still_fails_and_the_task_is_not_left_cancelled(
    workspace: Path,
) -> None:
    write(
        workspace / "iflows/stubborn.py",
        "import asyncio\nasync def p(m):\n    try:\n        await asyncio.sleep(30)\n"
        "    except asyncio.CancelledError:\n        m.body = b'ignored'\n    return m\n",
    )
    with pytest.raises(StepTimeout, match=r"ran past the iFlow's timeout of 0\.05 s"):
        await load_pipeline(["iflows/stubborn.py:p"], workspace).run(msg(), 0.05)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # a pending cancellation would be raised here


async def test_an_outside_cancellation_is_not_a_timeout(workspace: Path) -> None:
    write(workspace / "iflows/slow.py", "import asyncio\nasync def p(m):\n    await asyncio.sleep(30)\n")
    running = asyncio.create_task(load_pipeline(["iflows/slow.py:p"], workspace).run(msg(), 5))
    await asyncio.sleep(0)  # the step is now waiting in its sleep
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_timeout_covers_the_whole_chain(workspace: Path) -> None:
    write(workspace / "iflows/two.py", "import time\ndef a(m):\n    pass\ndef b(m):\n    time.sleep(2)\n")
    with pytest.raises(StepTimeout) as info:
        await load_pipeline(["iflows/two.py:a", "iflows/two.py:b"], workspace).run(msg(), 0.3)
    assert info.value.step == "iflows/two.py:b"


async def test_no_timeout_when_none(workspace: Path) -> None:
    write(workspace / "iflows/a.py", "def p(m):\n    m.body = b'done'\n")
    assert (await load_pipeline(["iflows/a.py:p"], workspace).run(msg(), None)).body == b"done"


async def test_printing_binary_junk_does_not_break_the_step(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    strict = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", strict)
    write(
        workspace / "iflows/noisy.py",
        r"""
        import sys

        def p(message):
            print("\udcff\x00\x1b[2J\xff", message.body)
            print("\ud800", file=sys.stderr)
            sys.stdout.write("\udc80\n")
            message.body = b"still here"
        """,
    )
    assert (await load_pipeline(["iflows/noisy.py:p"], workspace).run(msg(b"\xff\x00"), 5)).body == b"still here"
    assert b"\\udcff" in strict.buffer.getvalue()  # type: ignore[attr-defined]


async def test_body_invalid_in_its_charset_fails_the_step_that_reads_text(workspace: Path) -> None:
    write(workspace / "iflows/read.py", "def p(m):\n    m.body = m.text.upper()\n")
    message = Message(b"caf\xe9", {"Content-Type": "text/plain; charset=utf-8"}, None)
    with pytest.raises(StepError, match=r"BodyDecodeError: the body is not valid utf-8 \(byte 0xe9 at offset 3\)"):
        await load_pipeline(["iflows/read.py:p"], workspace).run(message, 5)


async def test_steps_in_one_file_share_the_module(workspace: Path) -> None:
    write(workspace / "iflows/c.py", "seen = []\ndef a(m):\n    seen.append('a')\ndef b(m):\n    seen.append('b')\n")
    pipeline = load_pipeline(["iflows/c.py:a", "iflows/c.py:b"], workspace)
    await pipeline.run(msg(), 5)
    module = next(m for n, m in sys.modules.items() if n.startswith("cpimock_step_c_"))
    assert module.seen == ["a", "b"]
    assert pipeline.references == ("iflows/c.py:a", "iflows/c.py:b")


# -- reloading -------------------------------------------------------------------------------------


async def test_rewritten_file_is_used_on_the_next_run(workspace: Path) -> None:
    step = workspace / "iflows/r.py"
    write(step, "def p(m):\n    m.body = b'one'\n")
    pipeline = load_pipeline(["iflows/r.py:p"], workspace)
    assert (await pipeline.run(msg(), 5)).body == b"one"
    write(step, "def p(m):\n    m.body = b'two'\n")  # same size on purpose
    assert (await pipeline.run(msg(), 5)).body == b"two"


async def test_files_are_checked_once_per_iteration_of_the_event_loop(workspace: Path) -> None:
    step = workspace / "iflows/r.py"
    write(step, "async def p(m):\n    m.body = b'one'\n")
    pipeline = load_pipeline(["iflows/r.py:p"], workspace)
    assert (await pipeline.run(msg(), 5)).body == b"one"
    write(step, "async def p(m):\n    m.body = b'two'\n")
    # the same iteration (an async step that never waits): no request can have been sent after
    # the save and already be running here, so the file is not looked at again
    assert (await pipeline.run(msg(), 5)).body == b"one"
    await asyncio.sleep(0)
    assert (await pipeline.run(msg(), 5)).body == b"two"


async def test_broken_file_keeps_the_old_code_and_logs_once(workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    step = workspace / "iflows/r.py"
    write(step, "def p(m):\n    m.body = b'good'\n")
    pipeline = load_pipeline(["iflows/r.py:p"], workspace)
    write(step, "def p(m):\n    m.body = b'bad' +\n")
    with caplog.at_level(logging.WARNING, logger="cpimock.steps"):
        assert (await pipeline.run(msg(), 5)).body == b"good"
        assert (await pipeline.run(msg(), 5)).body == b"good"
    records = [r for r in caplog.records if r.name.startswith("cpimock.steps.")]
    assert len(records) == 1
    assert "iflows/r.py: importing the file failed: SyntaxError" in records[0].getMessage()
    assert "keeping the code loaded before" in records[0].getMessage()

    write(step, "def p(m):\n    m.body = b'fixed'\n")
    assert (await pipeline.run(msg(), 5)).body == b"fixed"


async def test_reload_that_loses_the_function_keeps_the_old_code(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    step = workspace / "iflows/r.py"
    write(step, "def p(m):\n    m.body = b'good'\n")
    pipeline = load_pipeline(["iflows/r.py:p"], workspace)
    write(step, "def renamed(m):\n    m.body = b'new'\n")
    with caplog.at_level(logging.WARNING, logger="cpimock.steps"):
        assert (await pipeline.run(msg(), 5)).body == b"good"
    assert "no function 'p'" in caplog.text


async def test_deleted_file_keeps_the_old_code(workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    step = workspace / "iflows/r.py"
    write(step, "def p(m):\n    m.body = b'good'\n")
    pipeline = load_pipeline(["iflows/r.py:p"], workspace)
    step.unlink()
    with caplog.at_level(logging.WARNING, logger="cpimock.steps"):
        assert (await pipeline.run(msg(), 5)).body == b"good"
        assert (await pipeline.run(msg(), 5)).body == b"good"
    assert caplog.text.count("the file is gone") == 1


async def test_deferred_errors_fail_the_run_until_the_file_is_fixed(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cpimock.steps"):
        pipeline = load_pipeline(["iflows/later.py:p"], workspace, defer_errors=True)
    assert "step file not found" in caplog.text
    assert len(pipeline.load_errors) == 1
    with pytest.raises(StepError, match=r"cannot be loaded: iflows/later\.py: step file not found") as info:
        await pipeline.run(msg(), 5)
    assert isinstance(info.value.__cause__, HandlerLoadError)

    write(workspace / "iflows/later.py", "def p(m):\n    m.body = b'now'\n")
    await asyncio.sleep(0)  # files are checked once per iteration of the event loop, as requests arrive
    assert (await pipeline.run(msg(), 5)).body == b"now"
    assert pipeline.load_errors == []


async def test_deferred_module_error(workspace: Path) -> None:
    pipeline = load_pipeline(["no_such_pkg_xyz:p"], workspace, defer_errors=True)
    assert isinstance(pipeline, Pipeline)
    with pytest.raises(StepError, match="could not import module 'no_such_pkg_xyz'"):
        await pipeline.run(msg(), 5)


async def test_the_timeout_is_for_all_steps_together(workspace: Path) -> None:
    write(workspace / "iflows/two.py", "import time\ndef a(m):\n    time.sleep(0.2)\ndef b(m):\n    time.sleep(0.2)\n")
    with pytest.raises(StepTimeout):
        await load_pipeline(["iflows/two.py:a", "iflows/two.py:b"], workspace).run(msg(), 0.3)


def test_worker_threads_are_capped_and_queued_jobs_still_run() -> None:
    threads = DaemonThreads(max_threads=2, idle_timeout_s=0.05)
    release = threading.Event()
    running: set[str] = set()
    done = threading.Semaphore(0)

    def job() -> None:
        running.add(threading.current_thread().name + str(threading.get_ident()))
        release.wait(10)
        done.release()

    for _ in range(5):
        threads.submit(job)
    release.set()
    for _ in range(5):
        assert done.acquire(timeout=10)
    assert len(running) <= 2
    # idle threads leave after the idle timeout; new work starts new ones
    threads.submit(done.release)
    assert done.acquire(timeout=10)
