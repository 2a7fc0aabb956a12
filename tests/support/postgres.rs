//! A PostgreSQL server for the examples that need one (`examples/cluster.rs`): the one
//! `TM_DATABASE_URL` names, or else a throwaway one started with `scripts/postgres run`,
//! which goes away with the returned [`Server`].

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

/// A server to use; a throwaway one stops when this is dropped (and when this process
/// ends, whichever comes first).
pub struct Server {
    /// Its URL (with the password).
    pub url: String,
    /// Holding the script's standard input open keeps the throwaway server running.
    script: Option<(Child, ChildStdin)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.script.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// `TM_DATABASE_URL`'s server, or a throwaway one.
///
/// # Errors
/// The script could not start a server; the message says why and how to install one.
pub fn server() -> Result<Server, String> {
    if let Ok(url) = std::env::var("TM_DATABASE_URL") {
        return Ok(Server { url, script: None });
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("run")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let (Some(stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("the script's pipes were not made".into());
    };
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let url = line.trim().to_owned();
    if url.is_empty() {
        drop(stdin);
        let mut messages = String::new();
        let _ = stderr.read_to_string(&mut messages);
        let _ = child.wait();
        return Err(format!(
            "scripts/postgres could not start PostgreSQL:\n{messages}"
        ));
    }
    // The script's later messages are drained on the side, so that it never blocks on them.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    Ok(Server {
        url,
        script: Some((child, stdin)),
    })
}
