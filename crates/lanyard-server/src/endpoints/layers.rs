//! Tower layers for the gRPC endpoints: stamping the caller's identity on every
//! request, and counting calls by method and gRPC status code.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

use crate::api::Caller;

/// Puts a fixed [`Caller`] into every request's extensions (the admin socket's
/// callers are all [`Caller::Local`]).
#[derive(Clone, Debug)]
pub struct CallerLayer {
    caller: Caller,
}

impl CallerLayer {
    /// Marks every request as coming from `caller`.
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = WithCaller<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithCaller {
            inner,
            caller: self.caller.clone(),
        }
    }
}

/// The service [`CallerLayer`] produces.
#[derive(Clone, Debug)]
pub struct WithCaller<S> {
    inner: S,
    caller: Caller,
}

impl<S, B> Service<http::Request<B>> for WithCaller<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.caller.clone());
        self.inner.call(request)
    }
}

/// Counts gRPC calls (`lanyard_server_rpc_calls_total{method, code}`) and times
/// them (`lanyard_server_rpc_duration_seconds{method}`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// The service [`RpcMetricsLayer`] produces.
#[derive(Clone, Debug)]
pub struct RpcMetrics<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);

        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response_code(response),
                Err(_) => tonic::Code::Internal,
            };
            metrics::counter!(
                "lanyard_server_rpc_calls_total",
                "method" => method.clone(),
                "code" => format!("{code:?}")
            )
            .increment(1);
            metrics::histogram!("lanyard_server_rpc_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The gRPC status of a response whose status travels in the headers (every
/// failed unary call); a status sent later in trailers counts as `Ok`.
fn response_code<B>(response: &http::Response<B>) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .map_or(tonic::Code::Ok, |v| tonic::Code::from_bytes(v.as_bytes()))
}

/// `/package.Service/Method` for the services we serve; anything else is
/// `unknown`, so callers cannot grow the label set without bound.
fn method_label(path: &str) -> String {
    let known_prefix = path.starts_with("/spire.api.") || path.starts_with("/grpc.health.");
    let plausible = path.len() <= 128
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_'));
    if known_prefix && plausible {
        path.to_owned()
    } else {
        "unknown".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_bounded_to_known_services() {
        assert_eq!(
            method_label("/spire.api.server.entry.v1.Entry/ListEntries"),
            "/spire.api.server.entry.v1.Entry/ListEntries"
        );
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(method_label("/evil/x"), "unknown");
        assert_eq!(method_label("/spire.api.x/\u{1}"), "unknown");
    }

    #[test]
    fn status_in_headers_is_the_call_code() {
        let mut response = http::Response::new(());
        assert_eq!(response_code(&response), tonic::Code::Ok);
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(response_code(&response), tonic::Code::InvalidArgument);
    }
}
