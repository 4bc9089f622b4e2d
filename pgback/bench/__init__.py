"""`python -m pgback.bench`: backup and restore speed, memory and local disk writes of pgback,
measured against pg_dump's floor and a pg_back-style pipeline on the local test bed.

Modules: `dataset` (the generated database), `servers` (PostgreSQL and the S3 endpoint),
`probes` (peak RSS, disk writes, wall time of a child), `measure` (the five measurements),
`report` (machine, table, targets, JSON), `run` (one run over one or more sizes), `cli`.

Only the benchmark imports the test bed; the engine never imports this package.
"""
