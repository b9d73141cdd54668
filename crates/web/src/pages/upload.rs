//! A multipart form with one file: the small fields are kept, the file is streamed to a
//! temporary file (bounded by `max_upload_bytes`), never held in memory.

use std::collections::HashMap;

use axum::extract::Multipart;
use taskforce_service::api::AppState;
use tokio::io::AsyncWriteExt;

use crate::render::{PageError, PageResult};

/// The form's text fields and its file (with the name the browser gave).
pub struct Spooled {
    pub fields: HashMap<String, String>,
    pub file: Option<(tempfile::NamedTempFile, String)>,
}

impl Spooled {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

pub async fn spool(s: &AppState, mut form: Multipart) -> PageResult<Spooled> {
    let limit = s.config.max_upload_bytes;
    let mut fields = HashMap::new();
    let mut file = None;
    let bad =
        |e: axum::extract::multipart::MultipartError| PageError::BadRequest(format!("the form could not be read: {e}"));
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) if name == "file" => {
                let dir = s.config.upload_dir.clone().unwrap_or_else(std::env::temp_dir);
                let tmp = tempfile::Builder::new()
                    .prefix("taskforce-upload-")
                    .tempfile_in(&dir)
                    .map_err(anyhow::Error::from)?;
                let mut out = tokio::fs::File::from_std(tmp.reopen().map_err(anyhow::Error::from)?);
                let mut total = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    total += chunk.len() as u64;
                    if total > limit {
                        return Err(PageError::BadRequest(format!(
                            "the file is larger than the limit of {limit} bytes"
                        )));
                    }
                    out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
                }
                out.flush().await.map_err(anyhow::Error::from)?;
                if total == 0 {
                    return Err(PageError::BadRequest("the file is empty (or none was chosen)".into()));
                }
                let shown = if file_name.trim().is_empty() { "upload".to_string() } else { file_name };
                file = Some((tmp, shown));
            }
            _ => {
                let text = field.text().await.map_err(bad)?;
                if text.len() > 64 * 1024 {
                    return Err(PageError::BadRequest(format!("the field {name:?} is too long")));
                }
                fields.insert(name, text);
            }
        }
    }
    Ok(Spooled { fields, file })
}

/// The message of an ingest that refused a file.
pub fn ingest_refused(e: taskforce_service::ingest::IngestError) -> PageError {
    let api = taskforce_service::api::uploads::ingest_error(e);
    PageError::from(api)
}
