//! Copies a single host's SQLite store into PostgreSQL (`smsgate migrate`).
