"""autoscaling strategies."""
