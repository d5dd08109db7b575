"""What the peer tools (``aws s3 sync``, ``rclone copy``) do to a name already taken
at the target, pinned on a real SeaweedFS; ``eden-blob migrate`` beside them."""
