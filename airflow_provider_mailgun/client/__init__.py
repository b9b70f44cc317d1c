"""Mailgun over HTTP, with nothing of Airflow: config, transport, resources, errors.

::

    from airflow_provider_mailgun.client import ClientConfig, MailgunClient
    client = MailgunClient(ClientConfig.for_mailgun("key-...", region="eu"))
"""

from airflow_provider_mailgun.client.client import MailgunClient
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.errors import (
    AmbiguousSendError,
    MailgunAPIError,
    MailgunAuthError,
    MailgunBadRequestError,
    MailgunConfigError,
    MailgunConnectionError,
    MailgunError,
    MailgunNotFoundError,
    MailgunQueryError,
    MailgunRateLimitError,
    MailgunRetiredAPIError,
    MailgunServerError,
    MailgunUnexpectedResponseError,
    MatonGatewayError,
    UnsafeURLError,
)

__all__ = [
    "AmbiguousSendError",
    "ClientConfig",
    "MailgunAPIError",
    "MailgunAuthError",
    "MailgunBadRequestError",
    "MailgunClient",
    "MailgunConfigError",
    "MailgunConnectionError",
    "MailgunError",
    "MailgunNotFoundError",
    "MailgunQueryError",
    "MailgunRateLimitError",
    "MailgunRetiredAPIError",
    "MailgunServerError",
    "MailgunUnexpectedResponseError",
    "MatonGatewayError",
    "UnsafeURLError",
]
