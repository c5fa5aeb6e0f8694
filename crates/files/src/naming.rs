//! Names, keys and types of attachments: pure functions, no I/O.

use sha2::{Digest as _, Sha256};

/// Longest file name kept (as given, in characters) and used in a key (sanitised, in bytes).
const MAX_NAME: usize = 255;
const MAX_KEY_NAME: usize = 200;

/// The client's file name, made safe to show and store: the last path component (old browsers
/// send `C:\...\a.jpg`), without control characters, at most 255 characters. `file` when
/// nothing is left.
pub fn display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The name as it goes into an object key: ASCII letters, digits, `.`, `_` and `-` kept, every
/// other run of characters one `_`, no leading dot, at most 200 bytes (the extension kept).
/// So a key never holds `/`, `..`, spaces or anything a URL would have to escape.
pub fn key_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut replaced = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            replaced = false;
        } else if !replaced {
            out.push('_');
            replaced = true;
        }
    }
    let mut out = out.trim_start_matches('.').to_owned();
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    if out.len() > MAX_KEY_NAME {
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_owned())
            .filter(|e| e.len() <= 16)
            .unwrap_or_default();
        out.truncate(MAX_KEY_NAME - ext.len());
        out.push_str(&ext);
    }
    if out.is_empty() || out == "_" {
        "file".to_owned()
    } else {
        out
    }
}

/// `{organization_id}/{epoch_ms}/{key name}`.
pub fn object_key(organization_id: &str, epoch_ms: i64, name: &str) -> String {
    format!("{organization_id}/{epoch_ms}/{}", key_name(name))
}

/// Six hex characters of the key's SHA-256: short, and the same for the same key.
pub fn short_path(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..3])
}

/// The content type to record: the part's own when it is a real type (lowercase, without
/// parameters), else one guessed from the file name, else `application/octet-stream`.
/// `application/octet-stream` sent by the client counts as no type (clients send it when they
/// do not know).
pub fn file_type(given: Option<&str>, name: &str) -> String {
    let given = given
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| is_mime(t) && t != OCTET_STREAM);
    given
        .or_else(|| {
            mime_guess::from_path(name)
                .first_raw()
                .map(str::to_ascii_lowercase)
        })
        .unwrap_or_else(|| OCTET_STREAM.to_owned())
}

const OCTET_STREAM: &str = "application/octet-stream";

fn is_mime(t: &str) -> bool {
    let Some((kind, sub)) = t.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    token(kind) && token(sub)
}

/// The extension that names the type (`image/jpeg` gives `jpeg`, as the seed API does): the
/// subtype for the plain ones, a table for the types whose subtype is not an extension, else
/// the file name's extension, else `bin`.
pub fn file_extension(file_type: &str, name: &str) -> String {
    const TABLE: &[(&str, &str)] = &[
        ("text/plain", "txt"),
        ("text/javascript", "js"),
        ("application/javascript", "js"),
        ("image/svg+xml", "svg"),
        ("image/x-icon", "ico"),
        ("image/vnd.microsoft.icon", "ico"),
        ("audio/mpeg", "mp3"),
        ("audio/mp4", "m4a"),
        ("video/quicktime", "mov"),
        ("application/msword", "doc"),
        ("application/vnd.ms-excel", "xls"),
        ("application/vnd.ms-powerpoint", "ppt"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "docx",
        ),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "pptx",
        ),
        ("application/x-7z-compressed", "7z"),
        ("application/x-tar", "tar"),
        ("application/gzip", "gz"),
        ("application/x-gzip", "gz"),
    ];
    if let Some((_, ext)) = TABLE.iter().find(|(t, _)| *t == file_type) {
        return (*ext).to_owned();
    }
    let sub = file_type.split_once('/').map_or("", |(_, s)| s);
    let plain = !sub.is_empty()
        && sub.len() <= 10
        && sub.bytes().all(|b| b.is_ascii_alphanumeric())
        && file_type != OCTET_STREAM;
    if plain {
        return sub.to_owned();
    }
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 10 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display_name("iphone13.jpg"), "iphone13.jpg");
        assert_eq!(
            display_name(r"C:\Users\DEEL\Online Shop\logitech_mouse.jpg"),
            "logitech_mouse.jpg"
        );
        assert_eq!(display_name("a/b/../c.txt"), "c.txt");
        assert_eq!(display_name("x\u{0}\ny.pdf"), "xy.pdf");
        assert_eq!(display_name(""), "file");
        assert_eq!(display_name(".."), "file");
        assert_eq!(display_name(&"é".repeat(1000)).chars().count(), 255);
    }

    #[test]
    fn key_names_are_url_safe() {
        assert_eq!(key_name("iphone13.jpg"), "iphone13.jpg");
        assert_eq!(key_name("Online Shop (1).jpg"), "Online_Shop_1_.jpg");
        assert_eq!(key_name("..%2F..%2Fetc/passwd"), "_2F._2Fetc_passwd");
        assert_eq!(key_name("...hidden"), "hidden");
        assert_eq!(key_name("résumé.pdf"), "r_sum_.pdf");
        assert_eq!(key_name("日本"), "file");
        assert_eq!(key_name(""), "file");
        let long = format!("{}.jpeg", "a".repeat(500));
        let k = key_name(&long);
        assert_eq!(k.len(), 200);
        assert!(k.ends_with("a.jpeg"));
        for name in ["a b", "a/b", "a?b#c", "a..b", "%00"] {
            let k = key_name(name);
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    && !k.contains(".."),
                "{name} -> {k}"
            );
        }
    }

    #[test]
    fn keys_and_short_paths() {
        let key = object_key("org_imbrace", 1_729_074_985_051, "iphone13.jpg");
        assert_eq!(key, "org_imbrace/1729074985051/iphone13.jpg");
        let s = short_path(&key);
        assert_eq!(s.len(), 6);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(s, short_path(&key));
        assert_ne!(s, short_path("org_imbrace/1729074985052/iphone13.jpg"));
    }

    #[test]
    fn types_and_extensions() {
        assert_eq!(file_type(Some("image/jpeg"), "x.bin"), "image/jpeg");
        assert_eq!(file_type(Some("Image/JPEG; q=1"), "x"), "image/jpeg");
        assert_eq!(file_type(None, "a.jpg"), "image/jpeg");
        assert_eq!(
            file_type(Some("application/octet-stream"), "a.pdf"),
            "application/pdf"
        );
        assert_eq!(file_type(Some("not a type"), "a.png"), "image/png");
        assert_eq!(file_type(None, "noext"), "application/octet-stream");
        assert_eq!(file_extension("image/jpeg", "a.jpg"), "jpeg");
        assert_eq!(file_extension("image/png", "a"), "png");
        assert_eq!(file_extension("application/pdf", "a"), "pdf");
        assert_eq!(file_extension("text/plain", "a"), "txt");
        assert_eq!(file_extension("image/svg+xml", "a"), "svg");
        assert_eq!(
            file_extension(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "a"
            ),
            "docx"
        );
        assert_eq!(file_extension("application/octet-stream", "a.DAT"), "dat");
        assert_eq!(file_extension("application/octet-stream", "a"), "bin");
        assert_eq!(file_extension("application/x-weird-thing", "a.wrd"), "wrd");
    }
}
