"""Liveness (/healthz) and readiness (/readyz) checks."""

from __future__ import annotations

import anyio
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from .. import db
from ..events.schema import projection_checkpoints
from ..runtime import Runtime
from .schemas import CheckResult, Health

log = structlog.get_logger(__name__)

CHECK_TIMEOUT_S = 2.0


class HealthChecks:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # The migration scripts do not change while the process runs, so read the head once.
        self.head_revision = db.head_revision()

    def liveness(self) -> Health:
        return Health(status="ok")

    async def readiness(self) -> Health:
        checks = {
            "database": await self._database(),
            "migrations": await self._migrations(),
            "executor": self._executor(),
            "event_log": self._event_log(),
        }
        ready = all(check.ok for check in checks.values())
        if not ready:
            failed = {name: check.detail for name, check in checks.items() if not check.ok}
            log.warning("readiness_check_failed", failed=failed)
        return Health(status="ready" if ready else "not_ready", checks=checks)

    async def _database(self) -> CheckResult:
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                async with self.runtime.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except TimeoutError:
            return CheckResult(ok=False, detail=f"no answer within {CHECK_TIMEOUT_S:g} s")
        except Exception as error:  # any driver error means "not reachable"
            return CheckResult(ok=False, detail=f"{type(error).__name__}: {error}"[:300])
        return CheckResult(ok=True)

    async def _migrations(self) -> CheckResult:
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                current = await db.current_revision(self.runtime.engine)
        except TimeoutError:
            return CheckResult(ok=False, detail=f"no answer within {CHECK_TIMEOUT_S:g} s")
        except Exception as error:
            return CheckResult(ok=False, detail=f"{type(error).__name__}: {error}"[:300])
        if current != self.head_revision:
            return CheckResult(
                ok=False,
                detail=f"database at revision {current}, code expects "
                f"{self.head_revision}; run brushwork db upgrade",
            )
        return CheckResult(ok=True, detail=f"revision {current}")

    def _event_log(self) -> CheckResult:
        failure = self.runtime.writer.failure
        if failure is not None:
            return CheckResult(ok=False, detail=f"the last commit failed: {failure}")
        return CheckResult(ok=True, detail="committing")

    def _executor(self) -> CheckResult:
        if not self.runtime.settings.run_worker:
            return CheckResult(ok=True, detail="disabled (--no-worker)")
        if not getattr(self.runtime, "scheduler_running", False):
            return CheckResult(ok=False, detail="the scheduler task is not running")
        return CheckResult(ok=True, detail="running")


async def read_checkpoints(engine: AsyncEngine) -> dict[str, int]:
    """Read each projection's checkpoint: the last log position folded into its rows."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(projection_checkpoints.c.name, projection_checkpoints.c.position)
        )
        return {row.name: int(row.position) for row in rows}
