"""supervise: rules-driven tiered supervision and joint sanctions."""

__version__ = "0.1.0"
