//! The batch calls: every item is validated on its own and gets its own status;
//! the valid ones go to the store in one transaction, each item in a savepoint.

use lanyard_proto::spire::api::server::entry::v1::{
    BatchCreateEntryRequest, BatchDeleteEntryRequest, BatchUpdateEntryRequest,
    batch_create_entry_response, batch_delete_entry_response, batch_update_entry_response,
};
use lanyard_proto::spire::api::types;
use lanyard_spiffe::SelectorMatch;
use lanyard_store::model::{
    EntryFilter, EntryId, EntrySpec, EntryUpdate, NewEntry, PageRequest, RegistrationEntry,
    SelectorFilter,
};

use super::status;
use crate::api::types::{
    entry_from_proto, entry_id_from_proto, entry_to_proto, full_entry_mask, store_mask,
};
use crate::api::{ApiError, ServerContext, ok_status};

type CreateResult = batch_create_entry_response::Result;
type UpdateResult = batch_update_entry_response::Result;
type DeleteResult = batch_delete_entry_response::Result;

/// `BatchCreateEntry`: one result per requested entry, in request order.
pub(super) async fn create(
    ctx: &ServerContext,
    request: BatchCreateEntryRequest,
) -> Result<Vec<CreateResult>, ApiError> {
    let full = full_entry_mask();
    let mut results: Vec<Option<CreateResult>> = vec![None; request.entries.len()];
    let mut valid = Vec::new();
    for (slot, proto) in request.entries.iter().enumerate() {
        let parsed = match entry_from_proto(&ctx.trust_domain, proto, &full) {
            Ok(parsed) => parsed,
            Err(error) => {
                results[slot] = Some(create_failure(error.context("failed to convert entry")));
                continue;
            }
        };
        if let Err(error) = check_federated_bundles(ctx, &parsed.spec).await {
            results[slot] = Some(create_failure(error.context("failed to create entry")));
            continue;
        }
        valid.push((
            slot,
            NewEntry {
                id: parsed.id,
                spec: parsed.spec,
            },
        ));
    }

    let batch: Vec<NewEntry> = valid.iter().map(|(_, new)| new.clone()).collect();
    let stored = ctx
        .store
        .create_entries(&batch)
        .await
        .map_err(|e| status::store_error("failed to create entries", e))?;

    let mask = request.output_mask.as_ref();
    for ((slot, new), outcome) in valid.into_iter().zip(stored) {
        results[slot] = Some(match outcome {
            Ok(entry) => {
                tracing::debug!(entry_id = %entry.id, spiffe_id = %entry.spec.spiffe_id, "entry created");
                CreateResult {
                    status: Some(ok_status()),
                    entry: Some(entry_to_proto(&entry, mask)),
                }
            }
            Err(error) if status::is_similar_error(&error) => CreateResult {
                status: Some(status::store_error("failed to create entry", error).to_proto()),
                entry: find_similar(ctx, &new.spec)
                    .await
                    .map(|existing| entry_to_proto(&existing, mask)),
            },
            Err(error) => create_failure(status::store_error("failed to create entry", error)),
        });
    }
    Ok(results.into_iter().flatten().collect())
}

/// `BatchUpdateEntry`: the fields `input_mask` selects (all when absent) replace
/// those of each named entry.
pub(super) async fn update(
    ctx: &ServerContext,
    request: BatchUpdateEntryRequest,
) -> Result<Vec<UpdateResult>, ApiError> {
    let input_mask = request.input_mask.unwrap_or_else(full_entry_mask);
    let mut results: Vec<Option<UpdateResult>> = vec![None; request.entries.len()];
    let mut valid = Vec::new();
    for (slot, proto) in request.entries.iter().enumerate() {
        match parse_update(ctx, proto, &input_mask).await {
            Ok(update) => valid.push((slot, update)),
            Err(error) => {
                results[slot] = Some(UpdateResult {
                    status: Some(error.to_proto()),
                    entry: None,
                });
            }
        }
    }

    let batch: Vec<EntryUpdate> = valid.iter().map(|(_, u)| u.clone()).collect();
    let stored = ctx
        .store
        .update_entries(&batch)
        .await
        .map_err(|e| status::store_error("failed to update entries", e))?;

    let mask = request.output_mask.as_ref();
    for ((slot, _), outcome) in valid.into_iter().zip(stored) {
        results[slot] = Some(match outcome {
            Ok(entry) => {
                tracing::debug!(entry_id = %entry.id, revision = entry.revision_number, "entry updated");
                UpdateResult {
                    status: Some(ok_status()),
                    entry: Some(entry_to_proto(&entry, mask)),
                }
            }
            Err(error) => UpdateResult {
                status: Some(status::store_error("failed to update entry", error).to_proto()),
                entry: None,
            },
        });
    }
    Ok(results.into_iter().flatten().collect())
}

/// `BatchDeleteEntry`: one result per requested ID, in request order.
pub(super) async fn delete(
    ctx: &ServerContext,
    request: BatchDeleteEntryRequest,
) -> Result<Vec<DeleteResult>, ApiError> {
    let mut results: Vec<Option<DeleteResult>> = vec![None; request.ids.len()];
    let mut valid: Vec<(usize, EntryId)> = Vec::new();
    for (slot, raw) in request.ids.iter().enumerate() {
        match entry_id_from_proto("ids", raw) {
            Ok(id) => valid.push((slot, id)),
            Err(error) => {
                results[slot] = Some(DeleteResult {
                    status: Some(error.to_proto()),
                    id: raw.clone(),
                });
            }
        }
    }

    let ids: Vec<EntryId> = valid.iter().map(|(_, id)| id.clone()).collect();
    let deleted = ctx
        .store
        .delete_entries(&ids)
        .await
        .map_err(|e| status::store_error("failed to delete entries", e))?;

    for ((slot, id), outcome) in valid.into_iter().zip(deleted) {
        let status = match outcome {
            Ok(_) => {
                tracing::debug!(entry_id = %id, "entry deleted");
                ok_status()
            }
            Err(error) => status::store_error("failed to delete entry", error).to_proto(),
        };
        results[slot] = Some(DeleteResult {
            status: Some(status),
            id: id.to_string(),
        });
    }
    Ok(results.into_iter().flatten().collect())
}

async fn parse_update(
    ctx: &ServerContext,
    proto: &types::Entry,
    input_mask: &types::EntryMask,
) -> Result<EntryUpdate, ApiError> {
    let id = entry_id_from_proto("id", &proto.id)?;
    let parsed = entry_from_proto(&ctx.trust_domain, proto, input_mask)
        .map_err(|e| e.context("failed to convert entry"))?;
    if input_mask.federates_with {
        check_federated_bundles(ctx, &parsed.spec)
            .await
            .map_err(|e| e.context("failed to update entry"))?;
    }
    Ok(EntryUpdate {
        id,
        spec: parsed.spec,
        mask: store_mask(input_mask),
    })
}

fn create_failure(error: ApiError) -> CreateResult {
    CreateResult {
        status: Some(error.to_proto()),
        entry: None,
    }
}

/// Every trust domain the entry federates with must have a bundle.
async fn check_federated_bundles(ctx: &ServerContext, spec: &EntrySpec) -> Result<(), ApiError> {
    for td in &spec.federates_with {
        let bundle = ctx
            .store
            .get_bundle(td)
            .await
            .map_err(|e| status::store_error("failed to look up federated bundle", e))?;
        if bundle.is_none() {
            return Err(ApiError::invalid(format!(
                "invalid federates_with: no bundle is known for trust domain \"{td}\""
            )));
        }
    }
    Ok(())
}

/// The stored entry similar to `spec` (same parent, SPIFFE ID and selectors).
async fn find_similar(ctx: &ServerContext, spec: &EntrySpec) -> Option<RegistrationEntry> {
    let filter = EntryFilter {
        by_spiffe_id: Some(spec.spiffe_id.clone()),
        by_parent_id: Some(spec.parent_id.clone()),
        by_selectors: Some(SelectorFilter {
            selectors: spec.selectors.clone(),
            mode: SelectorMatch::Exact,
        }),
        ..EntryFilter::default()
    };
    match ctx
        .store
        .list_entries(&filter, &PageRequest::first(1))
        .await
    {
        Ok(page) => page.items.into_iter().next(),
        Err(error) => {
            tracing::warn!(%error, "could not read the similar entry");
            None
        }
    }
}
