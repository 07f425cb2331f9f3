"""The `podhost` command: node, images and the everyday verbs."""
