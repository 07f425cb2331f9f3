"""certificates.k8s.io strategies."""
