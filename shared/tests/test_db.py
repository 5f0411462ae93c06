"""The database helpers and the per-test database fixture, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import text

from eco_shared.db import async_database_url, create_engine, database_check
from eco_shared.redis_server import free_port


def test_urls_map_to_async_drivers() -> None:
    assert async_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_database_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert async_database_url("postgresql+psycopg://h/d") == "postgresql+psycopg://h/d"


async def test_fresh_database_per_test_round_trips(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await database_check(engine)()
        async with engine.begin() as conn:
            # The table must not exist yet: every test starts from an empty database.
            await conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT)"))
            await conn.execute(text("INSERT INTO probe (id, body) VALUES (1, 'ünïcode')"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT body FROM probe"))).all()
        assert rows == [("ünïcode",)]
    finally:
        await engine.dispose()


async def test_database_check_fails_when_unreachable(tmp_path: object) -> None:
    engine = create_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(Exception, match="(?i)connect"):
            await database_check(engine)()
    finally:
        await engine.dispose()
