"""Behind ``MailgunSyncListMembersOperator``: reading the source, and the pure diff against the
list. Private."""
