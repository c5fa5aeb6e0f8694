use std::fmt;

/// A rejected field of a scheduler document.
///
/// `message` is written for the API client and already names the field, so the HTTP layer can
/// return it verbatim as `{"message": ...}`; `field` lets callers (and tests) tell which input
/// was wrong without parsing the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}
