"""Built-in scenario suites."""
