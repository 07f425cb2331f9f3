"""podhost: run Kubernetes Pods on one Linux machine.

Real containers (runc under conmon), real Pod semantics (shared namespaces, kubelet-style
volumes) and the real Kubernetes API, so that kubectl and client libraries work unchanged.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
