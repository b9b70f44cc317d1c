"""Operator extra links: buttons in the task instance view that open what a task touched."""
