//! gRPC health (`grpc.health.v1.Health`) whose Watch streams end once the server drains.
//!
//! tonic-health's Watch streams never end on their own, so a client watching health would hold a
//! graceful shutdown until its hard deadline. Here every Watch stream sends NOT_SERVING and ends as
//! soon as draining starts. The server is generated with the service's codec, so an undecodable
//! health request is INVALID_ARGUMENT like any other; the statuses are tonic-health's.

use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt as _, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use tonic_health::{
    pb::{self as upstream, health_server::Health as _},
    server::{HealthReporter, HealthService},
};

use crate::proto::health::{
    HealthCheckRequest, HealthCheckResponse,
    health_check_response::ServingStatus,
    health_server::{Health, HealthServer},
};

fn upstream_request(request: Request<HealthCheckRequest>) -> Request<upstream::HealthCheckRequest> {
    request.map(|r| upstream::HealthCheckRequest { service: r.service })
}

fn response(r: upstream::HealthCheckResponse) -> HealthCheckResponse {
    HealthCheckResponse { status: r.status }
}

/// The health service; `draining` turns true when shutdown starts.
#[derive(Debug)]
pub struct DrainingHealth {
    inner: HealthService,
    draining: watch::Receiver<bool>,
}

impl DrainingHealth {
    /// A health server reporting what `reporter` sets, ending Watch streams once `draining` is true.
    pub fn server(reporter: HealthReporter, draining: watch::Receiver<bool>) -> HealthServer<Self> {
        HealthServer::new(Self {
            inner: HealthService::from_health_reporter(reporter),
            draining,
        })
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(self
            .inner
            .check(upstream_request(request))
            .await?
            .map(response))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut statuses = self
            .inner
            .watch(upstream_request(request))
            .await?
            .into_inner();
        let mut draining = self.draining.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let drained = async move {
                let _ = draining.wait_for(|d| *d).await.map(drop);
            };
            tokio::pin!(drained);
            loop {
                tokio::select! {
                    biased;
                    () = &mut drained => {
                        let last = HealthCheckResponse { status: ServingStatus::NotServing.into() };
                        let _ = tx.send(Ok(last)).await;
                        return;
                    }
                    item = statuses.next() => {
                        let Some(item) = item else { return };
                        if tx.send(item.map(response)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
