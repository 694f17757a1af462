//! Instants in the database: integer microseconds since the Unix epoch, UTC. Sortable, exact,
//! and unique enough to key manual runs.

use chrono::{DateTime, Utc};

pub fn to_db(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn from_db(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
