"""``python -m benchmarks.migrate``: ``eden-blob migrate`` against ``aws s3 sync`` and
``rclone copy``, local files to SeaweedFS, side by side in one run (docs/benchmarks.md)."""
