"""Planning and I/O behind the engagement export and report operators (private; no Airflow import).

``plan``: validates an export or report and turns it into API queries; ``rows``: the exported
row shape and its order; ``writer``: gzip JSON Lines written atomically; ``pages``: where the
events come from (Logs, or Events as the fallback), read ahead of the writer; ``report``: metrics
per tag and day.
"""
