"""triage: digital triage of seized devices for known images."""

__version__ = "0.1.0"
