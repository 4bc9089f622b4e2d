"""Every step kind, one module per area; importing this package registers them all
(pgback.scenario.registry.STEPS). A new step kind is a function with `@step(...)` in one of
these modules (or a new module imported here)."""

from pgback.scenario.steps import (
    clock,
    command,
    engine,
    expect_error,
    files,
    matrix,
    pg_back,
    servers,
    storage,
)

__all__ = [
    "clock",
    "command",
    "engine",
    "expect_error",
    "files",
    "matrix",
    "pg_back",
    "servers",
    "storage",
]
