//! The binary as an operator runs it: SIGTERM drains, and the process exits even when a client
//! holds a call open past the shutdown timeout.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use prost::Message as _;
use single_window::proto::v1::ListServicesRequest;

use crate::{
    helpers::{Backend, TestDb},
    raw,
};

#[tokio::test]
async fn sigterm_ends_the_process_even_with_a_call_held_open() {
    let db = TestDb::with_catalogue(Backend::Sqlite).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_single-window"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--database-url", &db.url, "--shutdown-timeout", "1s"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the binary");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("the server logged `{needle}`"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    let listening: serde_json::Value =
        serde_json::from_str(&wait_for("\"listening\"")).expect("a JSON log line");
    let addr = listening["fields"]["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("a socket address");
    wait_for("\"serving\"");

    // A client that asks for a large page and never reads it keeps its call in flight.
    let mut slow = raw::connect(addr, 1024).await;
    let page = ListServicesRequest {
        page_size: 500,
        ..Default::default()
    };
    let held = raw::start(
        &mut slow,
        "/singlewindow.v1.CatalogService/ListServices",
        &[],
        raw::frame(&page.encode_to_vec()),
    )
    .await;
    let _headers = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("the call started")
        .expect("headers");

    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: sends a signal to the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
    wait_for("closing their connections");
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("waiter")
        .expect("exit status");
    assert!(exited.success(), "{exited:?}");
}
