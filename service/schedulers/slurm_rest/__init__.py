"""The Slurm back end over slurmrestd: version adapters, batch script, state table, informer cache."""
