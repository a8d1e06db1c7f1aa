"""A service's replica of policy parameters in its own database: read a parameter's values and
keep one eligibility announced (`parameter.recorded`). Each service has the table in its own
migrations (`parameter_replica`); the values are `shared.parameter_replica.ParameterValue`."""

from __future__ import annotations

import functools
from uuid import UUID

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.parameter_replica import ParameterValue


@functools.cache
def _read(table: Table) -> Select:
    """The read of some parameters' values from this replica table, built once per table (intake
    reads it with every submission)."""
    return select(
        table.c.name, table.c.region_kato, table.c.valid_from, table.c.valid_to, table.c.value, table.c.recorded_at,
    ).where(table.c.name.in_(bindparam("names", expanding=True)))


async def replica_values(session: AsyncSession, table: Table, *names: str) -> list[ParameterValue]:
    """Every value kept of each of `names`, in one statement (Core rows, not ORM objects)."""
    rows = await session.execute(_read(table), {"names": list(names)})
    return [ParameterValue(name=r.name, region_kato=r.region_kato, valid_from=r.valid_from, valid_to=r.valid_to,
                           value=tuple(r.value) if isinstance(r.value, list) else r.value, recorded_at=r.recorded_at)
            for r in rows]


async def keep_replica_value(session: AsyncSession, table: Table, parameter_id: UUID, value: ParameterValue) -> None:
    """Keep a value; one announced twice is kept once."""
    await session.execute(insert(table).values(
        parameter_id=parameter_id, name=value.name, region_kato=value.region_kato, valid_from=value.valid_from,
        valid_to=value.valid_to, value=list(value.value) if isinstance(value.value, tuple) else value.value,
        recorded_at=value.recorded_at,
    ).on_conflict_do_nothing(index_elements=["parameter_id"]))
