"""Fixtures shared by the integration modules (defined in slurm_helpers.py for the live Slurm tests)."""

from tests.integration.slurm_helpers import work_root  # noqa: F401 (fixture)
