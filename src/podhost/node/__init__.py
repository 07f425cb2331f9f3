"""The kubelet: turns desired Pods into running containers and reports their status back."""
