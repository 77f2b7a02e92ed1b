"""The package's error types: one per boundary.

`ConfigError` — a file or flag a person gave us is wrong (policy, roster, schedule, month).
`Rejected` — one telemetry payload or event is malformed; it is counted and dead-lettered,
never raised out of the engine.
"""


class KefuError(Exception):
    """Base of every error kefu-floor raises on purpose."""


class ConfigError(KefuError):
    """A policy, roster, schedule, flag or file is unusable; the message names what and where."""


class Rejected(KefuError):
    """A telemetry payload or event that cannot be used.

    `reason` is a short counted category (bad_json, unknown_type, missing_field, wrong_type,
    invalid_value, too_large, wrong_site); `detail` says exactly what was wrong.
    """

    def __init__(self, reason: str, detail: str, index: int | None = None):
        self.reason = reason
        self.detail = detail
        self.index = index
        where = f" (event {index} of the batch)" if index is not None else ""
        super().__init__(f"{reason}: {detail}{where}")
