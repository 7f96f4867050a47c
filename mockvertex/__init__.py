"""mockvertex: a contract-testing mock server and conformance kit for the Vertex AI Gemini API."""

from mockvertex.errors import (
    DeadlineExceeded,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StatusError,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "DeadlineExceeded",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "StatusError",
    "Unauthenticated",
    "Unavailable",
]
__version__ = "0.1.0"
