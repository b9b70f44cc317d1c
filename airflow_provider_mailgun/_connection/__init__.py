"""Airflow connections turned into client configs (sync and async lookups alike), and the
connection test that names the fix. Private: used by the hook, the triggers and the notifier."""
