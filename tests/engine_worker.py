"""One engine process for the multi-process tests: JSON commands on stdin, one JSON reply a line.

    python tests/engine_worker.py STORE [SHARD_COUNT SHARD_IDS]

Commands: {"op": "add", "text", "guild"} -> {"id"}; {"op": "remove", "id"} -> {"removed"};
{"op": "ask", "question", "guild"} -> {"answer"}; {"op": "until", "question", "guild", "contains"
(or null for "no answer"), "timeout"} -> {"seconds"}: how long until the answer was as expected
(null if it never was), asking every 20 ms while the engine follows the store's changes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bot.engine.service import Engine
from bot.settings import Settings


async def main() -> None:
    extra = {"shard_count": int(sys.argv[2]), "shard_ids": sys.argv[3]} if len(sys.argv) > 3 else {}
    engine = await Engine.open(Settings(db=sys.argv[1], **extra))
    await engine.follow_changes()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            print(json.dumps(await run(engine, command)), flush=True)
    finally:
        await engine.close()


async def run(engine: Engine, command: dict) -> dict:
    op = command["op"]
    if op == "add":
        record = await engine.add_text(command["text"], guild_id=command["guild"], added_by="worker")
        return {"id": record.id}
    if op == "remove":
        return {"removed": (await engine.remove(command["id"], removed_by="worker")) is not None}
    if op == "ask":
        return {"answer": (await engine.ask(command["question"], guild_id=command["guild"])).answer}
    if op == "until":
        started = time.monotonic()
        while time.monotonic() - started < command["timeout"]:
            answer = (await engine.ask(command["question"], guild_id=command["guild"])).answer
            wanted = command["contains"]
            if (answer is None) if wanted is None else (answer is not None and wanted in answer):
                return {"seconds": round(time.monotonic() - started, 3)}
            await asyncio.sleep(0.02)
        return {"seconds": None}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    asyncio.run(main())
