"""How each throwaway infrastructure service runs, with its official or its air-gapped image:
ports, environment, tmpfs, command and the health check the official images lack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xorb_tools.rootfs import infra

if TYPE_CHECKING:
    pass


DB_USER = "xorb"
DB_NAME = "xorb_test"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
TEMPORAL_PORT = 7233
PG_TMPFS = "/var/lib/postgresql/tmpfs"


@dataclass
class InfraService:
    """How to run one service with either its official or its air-gapped image."""

    name: str
    image: str
    port: int
    envs: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    health_cmd: str | None = None
    """Only for images without a usable HEALTHCHECK (the official ones)."""


def infra_services_for(images: dict[str, str], password: str) -> list[InfraService]:
    official = {name: ref == infra.get(name).official for name, ref in images.items()}
    postgres = InfraService(
        "postgres",
        images["postgres"],
        POSTGRES_PORT,
        envs={
            "POSTGRES_USER": DB_USER,
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": DB_NAME,
            # On a tmpfs (a subdirectory, so initdb owns it whichever user it runs as). Not
            # at the image's VOLUME path: a tmpfs there comes up root-owned, mode 0700.
            "PGDATA": f"{PG_TMPFS}/pgdata",
        },
        command=[
            "postgres",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        tmpfs=[f"{PG_TMPFS}:rw,mode=1777"],
        health_cmd=(
            f"pg_isready -q -h 127.0.0.1 -p {POSTGRES_PORT} -U {DB_USER} -d {DB_NAME}"
            if official["postgres"]
            else None
        ),
    )
    # With a password, as in production (where the services must have one): the
    # air-gapped image's entrypoint and healthcheck read REDIS_PASSWORD, the official one
    # gets --requirepass.
    redis = InfraService(
        "redis",
        images["redis"],
        REDIS_PORT,
        envs={"REDIS_PASSWORD": password},
        command=["redis-server", "--save", "", "--appendonly", "no", "--requirepass", password],
        health_cmd=(
            'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG'
            if official["redis"]
            else None
        ),
    )
    temporal = InfraService("temporal", images["temporal"], TEMPORAL_PORT)
    if official["temporal"]:
        # temporalio/auto-setup is a full server: it keeps its state in our PostgreSQL.
        temporal.envs = {
            "DB": "postgres12",
            "DB_PORT": str(POSTGRES_PORT),
            "POSTGRES_SEEDS": "postgres",
            "POSTGRES_USER": DB_USER,
            "POSTGRES_PWD": password,
        }
        temporal.health_cmd = (
            f'temporal operator cluster health --address "$(hostname -i):{TEMPORAL_PORT}"'
        )
    return [postgres, redis, temporal]
