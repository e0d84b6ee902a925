"""Components that fail in the ways third-party plugins do (tests only)."""
