"""The parse queue's fairness, proven with events instead of timing: one server's queued uploads
never hold up another server's (issue 16, item 3)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from bot.engine import sandbox
from bot.engine.sandbox import ParseQueue, QueueFull
from bot.settings import Settings

DEFAULTS = Settings.model_construct()  # field defaults only: the queue as the bot runs it
A, B = 111, 222


async def test_a_server_with_its_uploads_queued_does_not_hold_up_another_servers(monkeypatch):
    log: list[str] = []
    release_a = asyncio.Event()  # A's parses block until the test lets them go
    a_reading = asyncio.Event()

    async def parse(job, limits, *, name: str):
        """Stands in for the child process only; the queue in front of it is the real one."""
        log.append(f"start {name}")
        if name.startswith("a"):
            a_reading.set()
            await release_a.wait()
        log.append(f"end {name}")
        return name

    monkeypatch.setattr(sandbox, "parse_in_child", parse)
    queue = ParseQueue(DEFAULTS.parse_workers, DEFAULTS.parse_queue_per_server)
    names = [f"a{i}" for i in range(DEFAULTS.parse_queue_per_server)]
    a_uploads = [asyncio.create_task(queue.parse(None, None, server=A, name=name)) for name in names]
    await a_reading.wait()
    # A's slot is taken and its waiting places full: one more is refused at once.
    with pytest.raises(QueueFull):
        await queue.parse(None, None, server=A, name="a-extra")

    # B's upload starts and finishes while all of A's are still blocked or waiting.
    assert await asyncio.wait_for(queue.parse(None, None, server=B, name="b"), timeout=30) == "b"
    assert not any(task.done() for task in a_uploads)
    assert log == ["start a0", "start b", "end b"]

    release_a.set()
    assert await asyncio.gather(*a_uploads) == names
    # One of A's at a time, in order: each starts after the one before it ended.
    assert log[3:] == ["end a0", *[step for name in names[1:] for step in (f"start {name}", f"end {name}")]]


MAIN_SCRIPT = '''
import asyncio, os, sys
print("main script run", flush=True)  # by the process itself, and by any process that runs it again
from bot.engine import sandbox
from bot.engine.sandbox import ParseJob, ParseLimits

async def main():
    limits = ParseLimits(timeout_s=20, memory_bytes=2**31, max_upload_bytes=10**6, max_passages=100)
    for i in range(3):
        parsed = await sandbox.parse_in_child(ParseJob(text=f"The ferry sailed at {i}.", title="Ferry"), limits, name="x")
        print("parsed", parsed.passages[0].text, flush=True)

if __name__ == "__main__":
    asyncio.run(main())
'''


def test_upload_children_do_not_run_the_main_script_again(tmp_path):
    """Each upload is read in a child of the forkserver; the main script (the talksbot command
    imports the whole bot) runs in the forkserver once, not again in every child, so a child
    starts in milliseconds (Python before 3.14 ignores "__main__" in the preload list)."""
    script = tmp_path / "main_script.py"
    script.write_text(MAIN_SCRIPT)
    env = {key: value for key, value in os.environ.items() if key != sandbox.MAIN_PATH_VARIABLE}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("parsed")] == [f"parsed The ferry sailed at {i}." for i in range(3)]
    # the process itself and the forkserver: not the three children
    assert lines.count("main script run") == 2, lines
