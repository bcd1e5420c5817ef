//! Generated protobuf and gRPC code for `singlewindow.v1`.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

/// The `singlewindow.v1` package.
pub mod v1 {
    tonic::include_proto!("singlewindow.v1");
}

/// `grpc.health.v1`, generated with the service's codec (the service is tonic-health's).
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

/// Encoded `FileDescriptorSet` of every proto the service exposes, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/singlewindow_descriptor.bin"));

/// Encoded `FileDescriptorSet` of `google.rpc` error details (`ErrorInfo`, `BadRequest`...), served
/// by reflection so clients can decode error details.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/google_rpc_descriptor.bin"));

/// Encoded `FileDescriptorSet` of `grpc.health.v1`.
pub const HEALTH_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/health_descriptor.bin"));
