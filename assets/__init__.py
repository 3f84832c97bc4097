"""Dagster assets, one module per source."""

import warnings

import dagster as dg

# `backfill_policy` is marked beta; single-run backfills are what makes ADICT quotas work.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
