"""The google.rpc Status family: one exception class per status, each knowing its wire form.

Every error mockvertex raises in Python, answers over HTTP, or prints at the CLI is a
``StatusError``. Its envelope is exactly what Google's front end sends:

    {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Aborted",
    "Cancelled",
    "DataFileError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "StatusError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "error_class_for",
]

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class FieldViolation:
    """One entry of ``google.rpc.BadRequest.fieldViolations``.

    ``field`` is the snake_case path Google reports (``safety_settings[0].threshold``);
    it is empty for a violation of the request as a whole.
    """

    field: str
    description: str

    def to_json(self) -> dict[str, str]:
        out = {"field": self.field} if self.field else {}
        out["description"] = self.description
        return out


class StatusError(Exception):
    """Base of the family: an HTTP status, a google.rpc code name, a message, details."""

    http_status: ClassVar[int] = 500
    status: ClassVar[str] = "UNKNOWN"
    default_message: ClassVar[str] = "Unknown error."
    #: Set by mockvertex.client: the HTTP attempts made before this was raised (0: none sent).
    attempts: int = 0
    #: Set by mockvertex.client when a stream failed after content reached the caller: the
    #: response delivered so far (a ``GenerateContentResponse``); never replayed.
    partial: Any = None

    def __init__(
        self,
        message: str | None = None,
        *,
        violations: Sequence[FieldViolation] = (),
        details: Iterable[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if message is None:
            message = (
                "\n".join(v.description for v in violations) if violations else self.default_message
            )
        super().__init__(message)
        self.message: str = message
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        self.extra_details: tuple[dict[str, Any], ...] = tuple(dict(d) for d in details)
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def code(self) -> int:
        return self.http_status

    def details(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.violations:
            out.append(
                {
                    "@type": BAD_REQUEST_TYPE,
                    "fieldViolations": [v.to_json() for v in self.violations],
                }
            )
        out.extend(self.extra_details)
        return out

    def to_envelope(self) -> dict[str, Any]:
        """The body Google sends: ``{"error": {code, message, status, details?}}``."""
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        details = self.details()
        if details:
            error["details"] = details
        return {"error": error}

    def to_json(self) -> str:
        """The envelope pretty-printed as Google's front end prints it (2 spaces, LF)."""
        return json.dumps(self.to_envelope(), indent=2, ensure_ascii=False)

    def __str__(self) -> str:
        return f"{self.http_status} {self.status}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    @classmethod
    def from_envelope(cls, body: Mapping[str, Any], http_status: int | None = None) -> StatusError:
        """Rebuild the typed error from a Google envelope (a one-element list is unwrapped)."""
        if isinstance(body, list) and len(body) == 1:  # array-mode streams wrap errors
            body = body[0]
        err = body.get("error", body) if isinstance(body, Mapping) else {}
        code = http_status if http_status is not None else int(err.get("code", 500))
        status = str(err.get("status", ""))
        klass = error_class_for(code, status)
        violations: list[FieldViolation] = []
        extra: list[dict[str, Any]] = []
        for d in err.get("details", []) or []:
            if isinstance(d, Mapping) and d.get("@type") == BAD_REQUEST_TYPE:
                for fv in d.get("fieldViolations", []):
                    violations.append(
                        FieldViolation(str(fv.get("field", "")), str(fv.get("description", "")))
                    )
            elif isinstance(d, Mapping):
                extra.append(dict(d))
        return klass(
            str(err.get("message", klass.default_message)), violations=violations, details=extra
        )


class InvalidArgument(StatusError):
    http_status = 400
    status = "INVALID_ARGUMENT"
    default_message = "Request contains an invalid argument."


class FailedPrecondition(StatusError):
    http_status = 400
    status = "FAILED_PRECONDITION"
    default_message = "Precondition check failed."


class Unauthenticated(StatusError):
    http_status = 401
    status = "UNAUTHENTICATED"
    default_message = (
        "Request is missing required authentication credential. Expected OAuth 2 access "
        "token, login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    )


class PermissionDenied(StatusError):
    http_status = 403
    status = "PERMISSION_DENIED"
    default_message = "The caller does not have permission."


class NotFound(StatusError):
    http_status = 404
    status = "NOT_FOUND"
    default_message = "Requested entity was not found."


class Aborted(StatusError):
    http_status = 409
    status = "ABORTED"
    default_message = "The operation was aborted."


class ResourceExhausted(StatusError):
    http_status = 429
    status = "RESOURCE_EXHAUSTED"
    default_message = (
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
    )


class Cancelled(StatusError):
    http_status = 499
    status = "CANCELLED"
    default_message = "The operation was cancelled."


class Internal(StatusError):
    http_status = 500
    status = "INTERNAL"
    # Vertex's text (langchain-ai/langchain#5258, a Vertex model behind VertexAI).
    default_message = "Internal error encountered."


class Unimplemented(StatusError):
    http_status = 501
    status = "UNIMPLEMENTED"
    default_message = "Operation is not implemented, or supported, or enabled."


class Unavailable(StatusError):
    http_status = 503
    status = "UNAVAILABLE"
    # Vertex's text (firebase/firebase-js-sdk#8232, Vertex AI for Firebase); the Developer API
    # says "The model is overloaded. Please try again later." (google-gemini/gemini-cli#5191).
    default_message = "The service is currently unavailable."


class DeadlineExceeded(StatusError):
    http_status = 504
    status = "DEADLINE_EXCEEDED"
    # Not found verbatim for Vertex; api_core prints a 504 as "504 Deadline Exceeded".
    default_message = "Deadline exceeded."


_BY_STATUS: dict[str, type[StatusError]] = {
    k.status: k
    for k in (
        InvalidArgument,
        FailedPrecondition,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Aborted,
        ResourceExhausted,
        Cancelled,
        Internal,
        Unimplemented,
        Unavailable,
        DeadlineExceeded,
    )
}
_BY_HTTP: dict[int, type[StatusError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Aborted,
    429: ResourceExhausted,
    499: Cancelled,
    500: Internal,
    501: Unimplemented,
    503: Unavailable,
    504: DeadlineExceeded,
}


def error_class_for(http_status: int, status: str = "") -> type[StatusError]:
    """The class for a google.rpc status name, else for the HTTP status, else a fitting base.

    A class whose HTTP status differs from the one given is specialised on the fly so the
    rebuilt error keeps the status it arrived with (e.g. 502 ``UNAVAILABLE``).
    """
    klass = _BY_STATUS.get(status) or _BY_HTTP.get(http_status)
    if klass is None:
        base: type[StatusError] = Internal if http_status >= 500 else StatusError
        return type(
            base.__name__, (base,), {"http_status": http_status, "status": status or base.status}
        )
    if klass.http_status != http_status or (status and klass.status != status):
        return type(
            klass.__name__,
            (klass,),
            {"http_status": http_status, "status": status or klass.status},
        )
    return klass


class DataFileError(ValueError):
    """A data file (model profiles, scenario) broke a rule: names the file, the field, the rule."""

    def __init__(self, file: str, field: str, rule: str) -> None:
        super().__init__(f"{file}: {field or '<root>'}: {rule}")
        self.file = file
        self.field = field
        self.rule = rule
