"""paramedic: runbooks as code for Kubernetes."""

__version__ = "0.1.0"
