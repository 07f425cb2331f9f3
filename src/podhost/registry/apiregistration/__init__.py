"""apiregistration.k8s.io strategies."""
