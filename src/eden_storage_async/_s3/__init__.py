"""The S3 backend, ``S3Backend``: settings, the aiobotocore client, error
translation, CRC32C, the write nonce, multipart uploads, and the lean request
path (``lean/``). aiobotocore and botocore are imported here and nowhere else.
"""
