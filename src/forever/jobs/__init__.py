"""Scheduled work: APScheduler wiring; each job calls a service."""
