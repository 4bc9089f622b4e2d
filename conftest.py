"""Root conftest: scenario files under scenarios/ are collected as tests."""

pytest_plugins = ["pgback.scenario.plugin"]
