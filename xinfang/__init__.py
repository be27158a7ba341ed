"""xinfang: triage of Chinese complaint and report letters (信访举报)."""

__version__ = "0.1.0"
