//! The mailer as a folder of `.eml` files: open one in any mail client.

use std::path::PathBuf;

use async_trait::async_trait;

use shared::ports::mailer::{Mail, MailError, Mailer, render};

#[derive(Clone)]
pub struct MailDir {
    dir: PathBuf,
    from: String,
}

impl MailDir {
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        MailDir {
            dir: dir.into(),
            from: from.into(),
        }
    }

    /// The `.eml` files written so far, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        files.sort();
        Ok(files)
    }
}

#[async_trait]
impl Mailer for MailDir {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let bytes = render(&self.from, mail)?;
        // Names sort by time: a UUIDv7 starts with its timestamp.
        let id = uuid::Uuid::now_v7().to_string();
        let dir = self.dir.clone();
        let path = dir.join(format!("{id}.eml"));
        let tmp = dir.join(format!(".{id}.tmp"));
        let io = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        io.await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        Ok(id)
    }
}
