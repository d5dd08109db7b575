"""The lean S3 request path: PutObject, GetObject and HeadObject signed by
botocore's own signer and sent on our HTTP/1.1 client (``.._http``).
"""
