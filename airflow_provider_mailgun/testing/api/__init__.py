"""The emulated Mailgun API: one route module per resource, request parsing, and the query
engines of the Events, Logs and Metrics APIs."""
