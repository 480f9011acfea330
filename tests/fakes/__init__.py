"""In-memory fakes of the use cases' ports, for rule tests that run in milliseconds."""
