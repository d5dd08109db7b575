"""A minimal HTTP/1.1 client for the hot calls (the lean S3 path and the small
GCS upload). It imports no backend and no SDK.
"""
