//! The `single-window` binary run as an operator runs it: a child process serving on port 0 with
//! JSON logs, its log lines read as they come, its address taken from the `listening` line.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use crate::helpers::TestDb;

/// A running `single-window serve`, killed when dropped.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// `serve` over `db` on 127.0.0.1:0 with JSON logs, with `configure` applied to the command
    /// (more arguments, environment), once it has logged that it is serving.
    pub fn serve(db: &TestDb, configure: impl FnOnce(&mut Command)) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_single-window"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--database-url", &db.url])
            .arg("--keys-file")
            .arg(&db.keys_file)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        configure(&mut command);
        let mut child = command.spawn().expect("start the binary");
        let (lines_tx, lines) = mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut binary = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        let listening: serde_json::Value =
            serde_json::from_str(&binary.wait_for(&["\"listening\""])).expect("a JSON log line");
        binary.addr = listening["fields"]["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("a socket address");
        binary.wait_for(&["\"serving\""]);
        binary
    }

    /// The next log line holding every one of `needles` (the last lines seen, on failure).
    pub fn wait_for(&self, needles: &[&str]) -> String {
        let mut recent = std::collections::VecDeque::new();
        loop {
            let Ok(line) = self.lines.recv_timeout(Duration::from_secs(120)) else {
                panic!("the server logged {needles:?}; its last lines: {recent:#?}");
            };
            if needles.iter().all(|n| line.contains(n)) {
                return line;
            }
            if recent.len() == 5 {
                recent.pop_front();
            }
            recent.push_back(line);
        }
    }
}
