"""The GCS backend, ``GcsBackend``: settings, the gcloud-aio-storage client,
error translation, the wire details, resumable uploads, the lean small upload,
TLS (the one SSL context both paths share, and which failures are never
retried) and the decisions taken after each call. gcloud is imported here and nowhere else.
"""
