"""A minimal HTTP/1.1 client for the hot calls (the lean S3 path and the small
GCS upload). It imports no backend and no SDK.

``client`` (``HttpClient``, the public surface), ``pool`` (keep-alive pools,
idle retirement, the stale resend, the deadline, the upload that watches for an
early answer), ``connection`` (the protocol, flow control, timed waits, and the
``TransportError`` family), ``parse`` (llhttp's response parser), ``response``
(one answer and its body) and ``body`` (one buffer for a body of known length).
"""
