"""policy/v1 strategies."""
