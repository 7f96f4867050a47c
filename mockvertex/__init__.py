"""mockvertex: a contract-testing mock server and conformance kit for the Vertex AI Gemini API.

The public API is exactly what ``__all__`` lists.
"""

from mockvertex.config import ServerConfig
from mockvertex.errors import (
    DataFileError,
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
from mockvertex.profiles import ModelProfile, ProfileRegistry
from mockvertex.scenario import Scenario, load_scenario
from mockvertex.server import MockVertexServer
from mockvertex.validation import validate_request

__all__ = [
    "DataFileError",
    "DeadlineExceeded",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "MockVertexServer",
    "ModelProfile",
    "NotFound",
    "PermissionDenied",
    "ProfileRegistry",
    "ResourceExhausted",
    "Scenario",
    "ServerConfig",
    "StatusError",
    "Unauthenticated",
    "Unavailable",
    "load_scenario",
    "validate_request",
]
__version__ = "0.1.0"
