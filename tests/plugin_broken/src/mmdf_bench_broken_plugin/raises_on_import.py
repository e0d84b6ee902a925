"""A module that fails while it is imported."""

raise RuntimeError("plugin configuration file ~/.broken-plugin.toml not found")
