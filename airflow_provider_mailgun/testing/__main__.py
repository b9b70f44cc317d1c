"""``python -m airflow_provider_mailgun.testing [--port 8025 ...]`` runs the emulator CLI."""

from airflow_provider_mailgun.testing.cli import main

raise SystemExit(main())
