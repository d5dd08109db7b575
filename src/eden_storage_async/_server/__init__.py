"""The reference deposit server behind ``eden-blob serve``."""
