"""Bulk seeding for the scale figures: many orgs and clients, inserted in SQL in one go.

Fills a PostgreSQL database that `keyloft init` migrated (the schema of
src/keyloft/storage/tables.py) up to ``total`` clients, 15 per org, each org with the three
default scope entities and one Till, each client with two grants. Every load client gets a
copy of one real client's secret hash, so they all accept that client's secret: only a few of
them are driven, and the hash is what an HMAC of that secret would be anyway.

Used by bench/run.py (`--store postgres --clients 1000000`); on its own:

    .venv/bin/python bench/scale_seed.py URL --total 1000000 --template-key KEY
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
from sqlalchemy.engine import make_url

PER_ORG = 15
LOAD_PREFIX = "load"  # load orgs are named load-<n>, their clients' keys start with it

STATEMENTS = [
    # Orgs, numbered from 1, enough for the clients still missing.
    """
    INSERT INTO orgs (name, timezone, max_clients, max_token_ttl, created_at)
    SELECT 'load-' || n, 'UTC', {per_org}, 3600, now() FROM generate_series(1, {orgs}) AS n
    """,
    """
    INSERT INTO scope_entities (org_id, id, name, area_pattern)
    SELECT o.id, e.id, e.name, e.pattern
    FROM orgs AS o CROSS JOIN (VALUES
        (1, 'TargetGroups', '.*v3/targetGroups.*'),
        (2, 'All', NULL),
        (3, 'Transaction', '.*v1\\.1/transaction.*')
    ) AS e(id, name, pattern)
    WHERE o.name LIKE 'load-%'
    """,
    """
    INSERT INTO principals (org_id, kind, code, name, description, password_hash, is_active,
                            created_at)
    SELECT o.id, 'TILL', 'load.till.' || o.id, 'Load Till', '', $1, true, now()
    FROM orgs AS o WHERE o.name LIKE 'load-%'
    """,
    """
    INSERT INTO clients (org_id, client_key, secret_hash, name, description,
                         expiration_token_time, default_till_id, is_valid, version, created_at,
                         updated_at, created_by_id, updated_by_id)
    SELECT p.org_id, 'load' || lpad(((p.org_id * {per_org}) + k)::text, 21, '0'), $1,
           'load-client-' || k, '', 3600, p.id, true, 1, now(), now(), p.id, p.id
    FROM principals AS p CROSS JOIN generate_series(1, {per_org}) AS k
    WHERE p.code LIKE 'load.till.%'
    ORDER BY p.org_id, k
    LIMIT {clients}
    """,
    """
    INSERT INTO client_grants (client_id, entity_id, org_id, permission, resources)
    SELECT c.id, e.entity_id, c.org_id, e.permission, '[]'::json
    FROM clients AS c CROSS JOIN (VALUES (2, 'READWRITE'), (1, 'READ')) AS e(entity_id, permission)
    WHERE c.client_key LIKE 'load%'
    """,
    "VACUUM (ANALYZE)",  # so that autovacuum of the new rows does not run during the measurement
]


async def bulk_seed(
    url: str,
    *,
    total: int,
    template_key: str,
    time_box: float,
    sample: int = 50,
) -> tuple[float, list[str]]:
    """Seconds taken, and ``sample`` load clients' keys picked at random."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=10,
    )
    started = time.monotonic()
    try:
        await connection.execute(f"SET statement_timeout = {int(time_box * 1000)}")
        existing = await connection.fetchval("SELECT count(*) FROM clients")
        missing = max(0, total - existing)
        secret_hash = await connection.fetchval(
            "SELECT secret_hash FROM clients WHERE client_key = $1", template_key
        )
        password_hash = await connection.fetchval("SELECT password_hash FROM principals LIMIT 1")
        if secret_hash is None or password_hash is None:
            raise RuntimeError("seed one org and client first (template client not found)")
        orgs = -(-missing // PER_ORG)
        async with connection.transaction():
            for statement in STATEMENTS[:-1]:
                sql = statement.format(per_org=PER_ORG, orgs=orgs, clients=missing)
                if "$1" in sql:
                    value = password_hash if "principals (" in sql else secret_hash
                    await connection.execute(sql, value)
                else:
                    await connection.execute(sql)
                if time.monotonic() - started > time_box:
                    raise TimeoutError(f"bulk seeding took longer than {time_box:.0f} s")
        await connection.execute(STATEMENTS[-1])
        keys = await connection.fetch(
            "SELECT client_key FROM clients TABLESAMPLE SYSTEM (1) "
            "WHERE client_key LIKE 'load%' ORDER BY random() LIMIT $1",
            sample,
        )
    finally:
        await connection.close()
    return time.monotonic() - started, [row["client_key"] for row in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--template-key", required=True)
    parser.add_argument("--timeout", type=float, default=900)
    options = parser.parse_args()
    took, _ = asyncio.run(
        bulk_seed(
            options.url,
            total=options.total,
            template_key=options.template_key,
            time_box=options.timeout,
        )
    )
    print(f"seeded up to {options.total:,} clients in {took:.0f} s")


if __name__ == "__main__":
    main()
