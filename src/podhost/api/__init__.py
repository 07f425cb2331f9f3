"""The Kubernetes object model and API semantics: pure data and functions, no I/O."""
