"""The consumer's inbox insert, two ways, against the real PostgreSQL: a statement with the batch's rows
in its VALUES (compiled anew for each batch size) and one statement built once, executed with the
rows. Prints CPU per event of this process.

    uv run python bench/pipeline/inbox_insert.py
"""
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sqlalchemy.dialects.postgresql import insert  # noqa: E402
from shared.db import make_engine, make_sessionmaker, ensure_database, drop_database  # noqa: E402
from shared.outbox import inbox, plumbing_metadata  # noqa: E402

URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_inbox_micro"
CACHED = insert(inbox).on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id)

def rows(n):
    return [{"event_id": uuid.uuid4(), "event_type": "t", "source": "s", "key": "k", "topic": "x", "partition": 0,
             "offset": i, "outcome": "handled"} for i in range(n)]

async def values_form(session, r):
    return set((await session.execute(insert(inbox).values(r).on_conflict_do_nothing(index_elements=[inbox.c.event_id]).returning(inbox.c.event_id))).scalars())

async def many_form(session, r):
    return set((await session.execute(CACHED, r)).scalars())

async def main():
    await drop_database(URL); await ensure_database(URL)
    engine = make_engine(URL)
    async with engine.begin() as c: await c.run_sync(plumbing_metadata.create_all)
    sm = make_sessionmaker(engine)
    for name, fn in (("values", values_form), ("executemany", many_form)) * 2:
        sizes = [1, 7, 23, 50, 113, 200] * 30
        cpu0 = time.process_time()
        n = 0
        for size in sizes:
            r = rows(size)
            async with sm() as s, s.begin():
                got = await fn(s, r)
                assert len(got) == size
                again = await fn(s, r[: max(1, size // 2)])
                assert again == set()
            n += size
        print(f"{name:12s} {1e6*(time.process_time()-cpu0)/n:7.1f} µs CPU per event ({n} events, batches of varying size)")
    await engine.dispose(); await drop_database(URL)
asyncio.run(main())
