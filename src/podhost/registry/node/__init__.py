"""node.k8s.io strategies."""
