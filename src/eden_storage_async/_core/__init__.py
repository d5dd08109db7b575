"""The shared core: the Protocol, the errors, ids and payloads, the base
class, stream input, settle, retry and CRC32C. It imports no backend and no SDK.
"""
