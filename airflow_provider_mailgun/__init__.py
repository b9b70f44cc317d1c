"""Apache Airflow provider for Mailgun (direct API or the Maton gateway).

Importing this package is cheap on purpose: it only carries the version. Import what you need from
its modules, e.g. ``from airflow_provider_mailgun.hooks.mailgun import MailgunHook``.
"""

# The one place the version is written: pyproject.toml, provider info and the client's User-Agent read it.
__version__ = "0.1.0"
