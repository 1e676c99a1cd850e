"""The audit trail of staff actions across the platform, kept by accounts and never edited."""
