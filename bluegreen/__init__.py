"""bluegreen: blue/green deployments for Kubernetes."""

__version__ = "0.1.0"
