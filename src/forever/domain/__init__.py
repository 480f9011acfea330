"""Pure business rules. Standard library only (a test enforces it)."""
