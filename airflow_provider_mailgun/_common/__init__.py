"""Helpers every part of the provider may use: address checks, Mailgun's limits, Airflow compatibility,
a bounded thread pool. Private: import what you need from the public modules instead."""
