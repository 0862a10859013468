"""Credentials for outbound calls (the Slurm REST API's JWT)."""
