"""Scenario files that replay real use against real servers, through the public engine only."""
