"""Ambassador Toolkit: a self-hosted brand ambassador portal whose only database is a bucket."""

__version__ = "0.1.0"
