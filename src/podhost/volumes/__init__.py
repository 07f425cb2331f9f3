"""Pod volumes: pure plans and idempotent set-up/tear-down on the host, as kubelet does them."""
