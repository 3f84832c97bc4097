"""Curated hive-partitioned Parquet, replaced atomically, and the DuckDB catalog over it."""
