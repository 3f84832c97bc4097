"""Dagster assets, one module per source."""
