//! The binary as an operator runs it: SIGTERM drains, and the process exits even when a client
//! holds a call open past the shutdown timeout.

use std::time::Duration;

use prost::Message as _;
use single_window::proto::v1::ListServicesRequest;

use crate::{
    binary::Binary,
    helpers::{Backend, TestDb},
    raw,
};

#[tokio::test]
async fn sigterm_ends_the_process_even_with_a_call_held_open() {
    let db = TestDb::with_catalogue(Backend::Sqlite).await;
    let mut server = Binary::serve(&db, |command| {
        command.args(["--shutdown-timeout", "1s"]);
    });
    let addr = server.addr;

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

    let pid = i32::try_from(server.child.id()).expect("a pid");
    // SAFETY: sends a signal to the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
    server.wait_for(&["closing their connections"]);
    let exited = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .expect("waiter")
        .expect("exit status");
    assert!(exited.success(), "{exited:?}");
}
