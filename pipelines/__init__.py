"""gazoduc's Dagster wiring: definitions, partitions, schedules, the planner and the CLI."""
