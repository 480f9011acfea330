"""Repositories: the use cases' storage ports on SQLAlchemy. They never commit."""
