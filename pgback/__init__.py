"""pgback: logical PostgreSQL backups as grouped, streaming, age-encrypted backup sets on S3."""

__version__ = "0.1.0"
