"""Airflow plugins of the provider: the optional Mailgun webhook receiver (see ``webhook_receiver``)."""
