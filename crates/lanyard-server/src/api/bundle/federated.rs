//! The batch calls on federated bundles; every item gets its own status.

use lanyard_proto::spire::api::server::bundle::v1::batch_delete_federated_bundle_request::Mode;
use lanyard_proto::spire::api::server::bundle::v1::{
    BatchCreateFederatedBundleRequest, BatchDeleteFederatedBundleRequest,
    BatchSetFederatedBundleRequest, BatchUpdateFederatedBundleRequest,
    batch_create_federated_bundle_response, batch_delete_federated_bundle_response,
    batch_set_federated_bundle_response, batch_update_federated_bundle_response,
};
use lanyard_proto::spire::api::types;
use lanyard_store::model::{BundleDeleteMode, BundleRecord};

use super::status;
use crate::api::types::{
    bundle_from_proto, bundle_to_proto, full_bundle_mask, trust_domain_from_proto,
};
use crate::api::{ApiError, ServerContext, ok_status};

/// `BatchCreateFederatedBundle`: each bundle must be new.
pub(super) async fn create(
    ctx: &ServerContext,
    request: BatchCreateFederatedBundleRequest,
) -> Vec<batch_create_federated_bundle_response::Result> {
    let mask = request.output_mask.as_ref();
    let mut results = Vec::with_capacity(request.bundle.len());
    for proto in &request.bundle {
        let outcome = match parse_federated(ctx, proto) {
            Ok(record) => ctx
                .store
                .create_bundle(&record)
                .await
                .map_err(|e| status::store_error("failed to create bundle", e)),
            Err(error) => Err(error),
        };
        let (status, bundle) = render("created", outcome, mask);
        results.push(batch_create_federated_bundle_response::Result { status, bundle });
    }
    results
}

/// `BatchUpdateFederatedBundle`: the fields `input_mask` selects (all when absent)
/// replace those of each existing bundle.
pub(super) async fn update(
    ctx: &ServerContext,
    request: BatchUpdateFederatedBundleRequest,
) -> Vec<batch_update_federated_bundle_response::Result> {
    let input = request.input_mask.unwrap_or_else(full_bundle_mask);
    let mask = request.output_mask.as_ref();
    let mut results = Vec::with_capacity(request.bundle.len());
    for proto in &request.bundle {
        let outcome = match parse_federated(ctx, proto) {
            Ok(next) => ctx
                .store
                .modify_bundle(&next.trust_domain.clone(), move |current| {
                    if input.x509_authorities {
                        current.x509_authorities = next.x509_authorities;
                    }
                    if input.jwt_authorities {
                        current.jwt_authorities = next.jwt_authorities;
                    }
                    if input.refresh_hint {
                        current.refresh_hint = next.refresh_hint;
                    }
                })
                .await
                .map_err(|e| status::store_error("failed to update bundle", e)),
            Err(error) => Err(error),
        };
        let (status, bundle) = render("updated", outcome, mask);
        results.push(batch_update_federated_bundle_response::Result { status, bundle });
    }
    results
}

/// `BatchSetFederatedBundle`: create or replace each bundle.
pub(super) async fn set(
    ctx: &ServerContext,
    request: BatchSetFederatedBundleRequest,
) -> Vec<batch_set_federated_bundle_response::Result> {
    let mask = request.output_mask.as_ref();
    let mut results = Vec::with_capacity(request.bundle.len());
    for proto in &request.bundle {
        let outcome = match parse_federated(ctx, proto) {
            Ok(record) => ctx
                .store
                .set_bundle(&record)
                .await
                .map_err(|e| status::store_error("failed to set bundle", e)),
            Err(error) => Err(error),
        };
        let (status, bundle) = render("set", outcome, mask);
        results.push(batch_set_federated_bundle_response::Result { status, bundle });
    }
    results
}

/// `BatchDeleteFederatedBundle`: `mode` says what happens to entries that
/// federate with a deleted bundle.
pub(super) async fn delete(
    ctx: &ServerContext,
    request: BatchDeleteFederatedBundleRequest,
) -> Result<Vec<batch_delete_federated_bundle_response::Result>, ApiError> {
    let mode = match Mode::try_from(request.mode) {
        Ok(Mode::Restrict) => BundleDeleteMode::Restrict,
        Ok(Mode::Delete) => BundleDeleteMode::Delete,
        Ok(Mode::Dissociate) => BundleDeleteMode::Dissociate,
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "invalid mode: unknown value {}",
                request.mode
            )));
        }
    };

    let mut results = Vec::with_capacity(request.trust_domains.len());
    for name in &request.trust_domains {
        let outcome = match trust_domain_from_proto("trust_domains", name) {
            Ok(td) if td == ctx.trust_domain => Err(status::own_trust_domain("trust_domains")),
            Ok(td) => ctx
                .store
                .delete_bundle(&td, mode)
                .await
                .map(|()| td)
                .map_err(|e| status::store_error("failed to delete bundle", e)),
            Err(error) => Err(error),
        };
        let status = match outcome {
            Ok(td) => {
                tracing::info!(trust_domain = %td, "federated bundle deleted");
                ok_status()
            }
            Err(error) => error.to_proto(),
        };
        results.push(batch_delete_federated_bundle_response::Result {
            status: Some(status),
            trust_domain: name.clone(),
        });
    }
    Ok(results)
}

fn parse_federated(ctx: &ServerContext, proto: &types::Bundle) -> Result<BundleRecord, ApiError> {
    let record = bundle_from_proto(proto).map_err(|e| e.context("failed to convert bundle"))?;
    if record.trust_domain == ctx.trust_domain {
        return Err(status::own_trust_domain("trust_domain"));
    }
    Ok(record)
}

fn render(
    verb: &'static str,
    outcome: Result<BundleRecord, ApiError>,
    mask: Option<&types::BundleMask>,
) -> (Option<types::Status>, Option<types::Bundle>) {
    match outcome {
        Ok(bundle) => {
            tracing::info!(
                trust_domain = %bundle.trust_domain,
                sequence = bundle.sequence_number,
                verb,
                "federated bundle stored"
            );
            (Some(ok_status()), Some(bundle_to_proto(&bundle, mask)))
        }
        Err(error) => (Some(error.to_proto()), None),
    }
}
