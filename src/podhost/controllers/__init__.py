"""In-process controllers, as kube-controller-manager runs them: one watch + work-queue loop
per kind, talking to the store through the API layer."""
