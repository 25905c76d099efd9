//! Protocol buffer messages and gRPC client/server stubs for the wire contracts
//! Lanyard serves and calls.
//!
//! Module paths mirror protobuf packages:
//!
//! - [`workload`]: the SPIFFE Workload API (`SpiffeWorkloadAPI`, no package).
//! - [`spire::api::server`]`::{agent, bundle, debug, entry, localauthority,
//!   logger, svid, trustdomain}::v1` and [`spire::api::types`]: SPIRE's server
//!   API as of SPIRE v1.13.
//! - [`lanyard`]`::agent::v1`: Lanyard's push stream of authorized entries
//!   (`lanyard.agent.v1.AgentSync`).
//! - [`envoy`]: the subset of Envoy's v3 API that a Secret Discovery Service
//!   needs, plus [`google::rpc`] for `google.rpc.Status`.
//!
//! Every message implements [`prost::Name`], so `prost_types::Any::from_msg`
//! produces the `type.googleapis.com/...` type URLs peers expect.
//!
//! The code under `src/gen/` is generated from `proto/` and committed;
//! `tests/regenerate.rs` checks it is current and rewrites it when run with
//! `LANYARD_REGENERATE_PROTO=1`. A new package needs only its `.proto` under
//! `proto/`, a regeneration, and a module below that includes the new file.
#![forbid(unsafe_code)]

/// Encoded `google.protobuf.FileDescriptorSet` of every `.proto` in this crate
/// and the well-known types they import (no source info), for gRPC server
/// reflection. It holds every service of every surface, so a reflection server
/// should name the services its socket actually serves (tonic-reflection's
/// `with_service_name`) rather than advertise them all.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/file_descriptor_set.bin");

/// The SPIFFE Workload API. The protobuf file has no package, so the gRPC
/// service is `/SpiffeWorkloadAPI/<Method>`.
#[allow(
    unused_qualifications,
    clippy::all,
    clippy::use_self,
    reason = "generated code: prost spells out full paths, and its style is not ours to lint"
)]
pub mod workload {
    include!("gen/_.rs");
}

/// SPIRE's public API packages (`spire.api.*`).
#[allow(
    unused_qualifications,
    clippy::all,
    clippy::use_self,
    reason = "generated code: prost spells out full paths, and its style is not ours to lint"
)]
pub mod spire {
    pub mod api {
        /// `spire.api.types`: messages shared by the server services.
        pub mod types {
            include!("gen/spire.api.types.rs");
        }

        /// `spire.api.server.*.v1`: the SPIRE server services.
        pub mod server {
            pub mod agent {
                pub mod v1 {
                    include!("gen/spire.api.server.agent.v1.rs");
                }
            }

            pub mod bundle {
                pub mod v1 {
                    include!("gen/spire.api.server.bundle.v1.rs");
                }
            }

            pub mod debug {
                pub mod v1 {
                    include!("gen/spire.api.server.debug.v1.rs");
                }
            }

            pub mod entry {
                pub mod v1 {
                    include!("gen/spire.api.server.entry.v1.rs");
                }
            }

            pub mod localauthority {
                pub mod v1 {
                    include!("gen/spire.api.server.localauthority.v1.rs");
                }
            }

            pub mod logger {
                pub mod v1 {
                    include!("gen/spire.api.server.logger.v1.rs");
                }
            }

            pub mod svid {
                pub mod v1 {
                    include!("gen/spire.api.server.svid.v1.rs");
                }
            }

            pub mod trustdomain {
                pub mod v1 {
                    include!("gen/spire.api.server.trustdomain.v1.rs");
                }
            }
        }
    }
}

/// Lanyard's own services (`lanyard.*.v1`), separate from the contracts above.
#[allow(
    unused_qualifications,
    clippy::all,
    clippy::use_self,
    reason = "generated code: prost spells out full paths, and its style is not ours to lint"
)]
pub mod lanyard {
    pub mod agent {
        /// `lanyard.agent.v1`: the push stream of authorized entries and bundles.
        pub mod v1 {
            include!("gen/lanyard.agent.v1.rs");
        }
    }
}

/// A subset of Envoy's v3 API: what a Secret Discovery Service reads and
/// writes. Declared fields carry Envoy's names and numbers.
#[allow(
    unused_qualifications,
    clippy::all,
    clippy::use_self,
    reason = "generated code: prost spells out full paths, and its style is not ours to lint"
)]
pub mod envoy {
    pub mod config {
        pub mod core {
            pub mod v3 {
                include!("gen/envoy.config.core.v3.rs");
            }
        }
    }

    pub mod extensions {
        pub mod transport_sockets {
            pub mod tls {
                pub mod v3 {
                    include!("gen/envoy.extensions.transport_sockets.tls.v3.rs");
                }
            }
        }
    }

    pub mod service {
        pub mod discovery {
            pub mod v3 {
                include!("gen/envoy.service.discovery.v3.rs");
            }
        }

        pub mod secret {
            pub mod v3 {
                include!("gen/envoy.service.secret.v3.rs");
            }
        }
    }

    pub mod r#type {
        pub mod v3 {
            include!("gen/envoy.r#type.v3.rs");
        }
    }
}

/// `google.rpc`: the status message carried in xDS NACKs.
#[allow(
    unused_qualifications,
    clippy::all,
    clippy::use_self,
    reason = "generated code: prost spells out full paths, and its style is not ours to lint"
)]
pub mod google {
    pub mod rpc {
        include!("gen/google.rpc.rs");
    }
}
