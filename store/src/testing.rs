//! Test support: a real `redis-server` on a free loopback port, stopped when
//! dropped. The binary is `$REDIS_SERVER_BIN` or `redis-server` on `PATH`, so
//! the same suite runs against Redis 7 (Debian) and 8.x or Valkey.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::RedisConfig;
use crate::error::{Error, Result};

/// A running `redis-server` owned by a test.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server with persistence off on a free loopback port.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (e.g. AOF).
    pub fn start_with(extra: &[&str]) -> Result<Self> {
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let dir = std::env::temp_dir().join(format!("prm-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| Error::Server(e.to_string()))?;
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            let child = cmd.spawn().map_err(|e| {
                Error::Server(format!(
                    "cannot run {bin}: {e} (set REDIS_SERVER_BIN or run `make deps`)"
                ))
            })?;
            let mut server = RedisServer { child, port, dir };
            if server.wait_ready(Duration::from_secs(10)) {
                return Ok(server);
            }
            last = format!("no redis-server of ours answered on port {port}");
            let _ = server.child.kill();
        }
        Err(Error::Server(last))
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                // The server on the port must be ours: two tests can pick
                // the same free port, and the loser's child (about to exit
                // on "address in use") must not adopt the winner's server.
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"INFO server\r\n").is_ok() {
                    let mut reply = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        reply.extend_from_slice(&buf[..n]);
                        if reply.windows(11).any(|w| w == b"process_id:")
                            && reply.ends_with(b"\r\n\r\n")
                        {
                            break;
                        }
                    }
                    let text = String::from_utf8_lossy(&reply);
                    let pid = text
                        .lines()
                        .find_map(|l| l.strip_prefix("process_id:"))
                        .and_then(|p| p.trim().parse::<u32>().ok());
                    match pid {
                        Some(pid) if pid == self.child.id() => return true,
                        // Someone else's server: give up this port.
                        Some(_) => return false,
                        None => {}
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A config for this server with a random namespace (tests never share keys).
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: self.url(),
            namespace: format!("t{:08x}", rand::random::<u32>()),
            pool_size: 4,
            ..RedisConfig::default()
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Server(e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Server(e.to_string()))
}
