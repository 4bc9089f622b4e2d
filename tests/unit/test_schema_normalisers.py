"""expect_schema_equal's normalisations between majors take out only what they name."""

from __future__ import annotations

from pgback.scenario.steps.matrix import _drop_debian_attver

DUMP_OF_DEBIAN_15_20 = """CREATE TABLE public.orders (
    id integer NOT NULL
);
ALTER TABLE ONLY public.orders ALTER COLUMN id SET (pg_attver=27022600);
ALTER TABLE ONLY public.orders ALTER COLUMN id SET (n_distinct=100);
ALTER TABLE ONLY "odd table" ALTER COLUMN "a b" SET (pg_attver=1);
ALTER TABLE public.orders OWNER TO postgres;"""


def test_debian_attver_lines_go_and_every_other_column_option_stays() -> None:
    assert _drop_debian_attver(DUMP_OF_DEBIAN_15_20) == (
        "CREATE TABLE public.orders (\n"
        "    id integer NOT NULL\n"
        ");\n"
        "ALTER TABLE ONLY public.orders ALTER COLUMN id SET (n_distinct=100);\n"
        "ALTER TABLE public.orders OWNER TO postgres;"
    )


def test_a_last_line_of_attver_goes_too() -> None:
    text = "ALTER TABLE x OWNER TO y;\nALTER TABLE ONLY x ALTER COLUMN c SET (pg_attver=7);"
    assert _drop_debian_attver(text) == "ALTER TABLE x OWNER TO y;\n"
