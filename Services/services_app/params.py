"""The base of every capability's request model, and how a stored request is read back.

A capability has ONE request model (a pydantic model, Django-free). The same
model is the body of its router, what is stored as the Job's ``params``
(``model.job_params()``), what the job function receives
(``Model.from_params(job.params)``) and what its management command builds.
Unknown keys are refused at every level: a misspelt option is a 422 that names
it and lists the known ones, never silently dropped.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import ServiceError

# Fields that steer submission, not the job: never part of the stored params or the idempotency fingerprint.
SUBMIT_ONLY = frozenset({"force", "workspace"})
# Fields that hold a secret the job needs (a PDF's password): stored with the job while it may run, shown to
# nobody (`redacted`), and removed from the stored params when the job ends.
SECRET_FIELDS = frozenset({"pdf_password"})
REDACTED = "(hidden)"


def has_secrets(params: Any) -> bool:
    """Whether ``params`` holds a value under a `SECRET_FIELDS` key at any depth."""
    if isinstance(params, dict):
        return any((k in SECRET_FIELDS and v not in (None, "")) or has_secrets(v) for k, v in params.items())
    if isinstance(params, list):
        return any(has_secrets(v) for v in params)
    return False


def without_secrets(params: Any) -> Any:
    """``params`` with every `SECRET_FIELDS` value removed (set to None)."""
    if isinstance(params, dict):
        return {k: (None if k in SECRET_FIELDS else without_secrets(v)) for k, v in params.items()}
    if isinstance(params, list):
        return [without_secrets(v) for v in params]
    return params


def redacted(params: Any) -> Any:
    """``params`` with the value of every `SECRET_FIELDS` key, at any depth, replaced by `REDACTED`."""
    if isinstance(params, dict):
        return {k: (REDACTED if k in SECRET_FIELDS and v not in (None, "") else redacted(v)) for k, v in params.items()}
    if isinstance(params, list):
        return [redacted(v) for v in params]
    return params


class RequestModel(BaseModel):
    """A strict request model: unknown keys are an error that lists the known fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                raise ValueError(
                    f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}; "
                    f"known fields: {', '.join(sorted(cls.model_fields))}"
                )
        return data

    def job_params(self) -> dict[str, Any]:
        """What is stored on the Job: every field but the submission-only ones, as JSON values."""
        return self.model_dump(mode="json", exclude=set(SUBMIT_ONLY) & set(type(self).model_fields))

    @classmethod
    def from_params(cls, params: Any) -> Self:
        """The model back from stored params (job time) or a command's options: 422 ``invalid_params`` if not valid."""
        try:
            return cls.model_validate(params)
        except ValidationError as exc:
            raise ServiceError(
                f"the parameters are not valid: {summarize(exc)}",
                code="invalid_params",
                status=422,
                details=[{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()],
            ) from None


def summarize(exc: ValidationError, limit: int = 5) -> str:
    """``field: message; ...`` for the first few errors of a pydantic validation error."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)
