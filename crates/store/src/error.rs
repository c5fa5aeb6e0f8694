/// Errors of the storage layer. Callers map these once, at their own edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// The stored row does not form a valid value of the domain (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists,
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// True when trying the same statement again may succeed: the connection or the server
    /// failed (lost connection, pool timeout, a restart or shutdown, too many connections, a
    /// serialization failure or deadlock, a statement or lock timeout). False for errors the
    /// statement itself causes (bad data, a constraint), which another try repeats.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                let code = db.code().unwrap_or_default();
                // 08 connection exception, 40 transaction rollback, 53 insufficient resources,
                // 57 operator intervention (shutdown, statement timeout), 58 system error,
                // 55P03 lock not available.
                ["08", "40", "53", "57", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "55P03"
            }
            StoreError::Database(_) => true,
            StoreError::NotFound | StoreError::AlreadyExists | StoreError::Corrupt(_) => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
