"""Small differences between Airflow 3.0 and newer releases, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseHook as BaseHook
    from airflow.sdk import ObjectStoragePath as ObjectStoragePath
    from airflow.sdk import conf as conf
    from airflow.sdk.exceptions import AirflowException as AirflowException
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
    from airflow.sdk.exceptions import AirflowNotFoundException as AirflowNotFoundException
    from airflow.sdk.exceptions import AirflowSensorTimeout as AirflowSensorTimeout
else:
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 3.0
        from airflow.hooks.base import BaseHook
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.0
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException
    except ImportError:  # Airflow 3.0 defines them in airflow.exceptions
        from airflow.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException
    try:
        from airflow.sdk.exceptions import AirflowSensorTimeout
    except ImportError:  # Airflow 3.0
        from airflow.exceptions import AirflowSensorTimeout
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 3.0
        from airflow.io.path import ObjectStoragePath

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "BaseHook",
    "ObjectStoragePath",
    "conf",
    "failure_without_retry",
    "mask_secret",
    "redact",
]


def failure_without_retry(message: str) -> AirflowFailException:
    """The error that fails a task at once, skipping its retries: bad input or a tripped guard, which
    another try would meet again, not a passing glitch."""
    return AirflowFailException(message)


def mask_secret(secret: str) -> None:
    """Register a secret with Airflow's secrets masker (task logs, rendered fields, XCom views)."""
    try:
        from airflow.sdk.log import mask_secret as _mask
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask  # type: ignore[no-redef]
    _mask(secret)


def redact(value: Any) -> Any:
    """Apply Airflow's secrets masker to a value (used before text leaves the task)."""
    try:
        from airflow.sdk._shared.secrets_masker import redact as _redact
    except ImportError:
        try:
            from airflow.sdk.execution_time.secrets_masker import redact as _redact  # type: ignore[no-redef]
        except ImportError:
            return value
    return _redact(value)
