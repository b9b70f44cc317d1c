"""Behind ``MailgunSendMessageOperator``: the plan (validated input cut into batches), its
execution (parallel sends, reconciliation of ambiguous ones), and the ledger that outlives the
task's tries. Private."""
