"""Datamonkey HyPhy job service: api-datamonkey compatible REST API over pluggable schedulers."""
