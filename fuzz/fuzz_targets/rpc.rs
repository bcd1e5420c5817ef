//! Every RPC's request decoding and validation: any bytes sent as the request of any method of
//! the API, by any of the demo callers or by none, are answered with a status a client can act on
//! (INVALID_ARGUMENT naming the field, NOT_FOUND, PERMISSION_DENIED...), never INTERNAL, UNKNOWN or
//! DATA_LOSS, and never by the server going away. The real server runs in this process on
//! loopback over a SQLite file in demo mode, started once; calls are real gRPC over HTTP/2.
//!
//! The input: its first byte picks the method (from the API's own descriptors, so a new RPC is
//! fuzzed without a change here), its second the caller, the rest is the request's bytes.

#![no_main]

use std::{sync::LazyLock, time::Duration};

use bytes::{Buf as _, BufMut as _};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use tonic::{
    Code,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

const CALLERS: &[Option<&str>] = &[
    None,
    Some("demo-esdc-edsc-ei-benefits-0c6f2b81"),
    Some("demo-cra-arc-benefits-credits-5d19e7a4"),
    Some("demo-cic-passports-93b40c2e"),
    Some("demo-portal-7a2d5f10"),
    Some("demo-admin-4e8c1b96"),
    Some("demo-auditor-b1f7390d"),
];

struct Server {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    /// (path, server streaming) of every method of the API.
    methods: Vec<(String, bool)>,
    _dir: tempfile::TempDir,
}

fn methods() -> Vec<(String, bool)> {
    let set = prost_types::FileDescriptorSet::decode(single_window::proto::FILE_DESCRIPTOR_SET)
        .expect("the API's descriptors");
    let mut methods = Vec::new();
    for file in set.file {
        let package = file.package().to_owned();
        for service in &file.service {
            for method in &service.method {
                methods.push((
                    format!("/{package}.{}/{}", service.name(), method.name()),
                    method.server_streaming(),
                ));
            }
        }
    }
    methods.sort();
    assert!(methods.len() > 40, "every RPC of the API: {}", methods.len());
    methods
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // In memory where the machine has it: the durable commits' fsyncs would bound the rate.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
    let channel = runtime.block_on(async {
        let args = single_window::config::ServeArgs::defaults_for(&url);
        let application = single_window::startup::Application::build(args)
            .await
            .expect("bind");
        let addr = application.local_addr();
        tokio::spawn(application.run_until_stopped(std::future::pending()));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_lazy();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        loop {
            let status = health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .map(|r| r.into_inner().status);
            if matches!(status, Ok(1)) {
                break channel;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Server {
        runtime,
        channel,
        methods: methods(),
        _dir: dir,
    }
});

/// Sends and receives messages as the bytes they are.
#[derive(Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// The status the call ended with (`Ok` when it succeeded; a stream still open after a moment
/// counts as `Ok`).
async fn call(path: &str, caller: Option<&str>, body: Vec<u8>) -> tonic::Status {
    let mut client = tonic::client::Grpc::new(SERVER.channel.clone());
    client.ready().await.expect("the server is there");
    let mut request = tonic::Request::new(body);
    if let Some(key) = caller {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("metadata"),
        );
    }
    let path = path.parse().expect("a method path");
    match client.server_streaming(request, path, Raw).await {
        Err(status) => status,
        Ok(response) => {
            let mut stream = response.into_inner();
            loop {
                match tokio::time::timeout(Duration::from_millis(50), stream.message()).await {
                    Err(_) | Ok(Ok(None)) => return tonic::Status::ok(""),
                    Ok(Ok(Some(_))) => {}
                    Ok(Err(status)) => return status,
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let server = &*SERVER;
    let [method, caller, body @ ..] = data else {
        return;
    };
    let (path, _) = &server.methods[usize::from(*method) % server.methods.len()];
    let caller = CALLERS[usize::from(*caller) % CALLERS.len()];
    let status = server.runtime.block_on(call(path, caller, body.to_vec()));
    assert!(
        !matches!(status.code(), Code::Internal | Code::Unknown | Code::DataLoss),
        "{path} as {caller:?}: {status:?}"
    );
});
