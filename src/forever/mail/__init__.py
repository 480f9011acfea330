"""Email: MIME building, the SMTP connection pool and the outbox sender."""
