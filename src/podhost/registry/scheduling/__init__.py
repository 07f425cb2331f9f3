"""scheduling.k8s.io strategies."""
