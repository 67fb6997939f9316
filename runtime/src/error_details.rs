//! Rich errors: `google.rpc.Status` with typed details, sent in `grpc-status-details-bin`, as
//! <https://google.aip.dev/193> describes and every gRPC stack reads (Python's `grpcio-status`,
//! Go's `status.Details()`).
//!
//! ```
//! use protoless::error_details::ErrorInfo;
//! use protoless::{Code, Status};
//!
//! let status = Status::failed_precondition("the account holds its maximum of 2 keys")
//!     .with_detail(ErrorInfo {
//!         reason: "KEY_LIMIT_EXCEEDED".into(),
//!         domain: "cache".into(),
//!         metadata: [("max_keys".to_owned(), "2".to_owned())].into(),
//!     });
//! let info: ErrorInfo = status.detail().unwrap();
//! assert_eq!(info.reason, "KEY_LIMIT_EXCEEDED");
//! assert_eq!(status.code(), Code::FailedPrecondition);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use protoless_macros::Message;

use crate::{Message, Status};

/// A type of `google.rpc` error detail, packed into `google.protobuf.Any` by its type URL.
pub trait ErrorDetail: Message {
    /// `type.googleapis.com/google.rpc.<Name>`.
    const TYPE_URL: &'static str;
}

/// `google.protobuf.Any`: a message of any type, named by its URL.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(
    crate = "crate",
    name = "google.protobuf.Any",
    import = "google/protobuf/any.proto"
)]
pub struct Any {
    /// The type's URL, such as `type.googleapis.com/google.rpc.ErrorInfo`.
    pub type_url: String,
    /// The encoded message.
    pub value: Vec<u8>,
}

/// `google.rpc.Status`: what `grpc-status-details-bin` carries.
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate", name = "Status")]
pub struct RpcStatus {
    /// The status code, as in `grpc-status`.
    pub code: i32,
    /// The message, as in `grpc-message`.
    pub message: String,
    /// The details.
    pub details: Vec<Any>,
}

macro_rules! error_details {
    ($($(#[$doc:meta])* $name:ident => $proto:literal { $($(#[$field_doc:meta])* $field:ident: $ty:ty,)* })*) => {
        $(
            $(#[$doc])*
            #[derive(Message, Clone, Debug, PartialEq)]
            #[proto(crate = "crate", name = $proto)]
            pub struct $name {
                $($(#[$field_doc])* pub $field: $ty,)*
            }

            impl ErrorDetail for $name {
                const TYPE_URL: &'static str = concat!("type.googleapis.com/google.rpc.", $proto);
            }
        )*
    };
}

error_details! {
    /// Why an error happened, in a machine-readable way.
    ErrorInfo => "ErrorInfo" {
        /// A constant in UPPER_SNAKE_CASE naming the cause, such as `KEY_LIMIT_EXCEEDED`.
        reason: String,
        /// The service or product the reason belongs to.
        domain: String,
        /// Further structured facts.
        metadata: BTreeMap<String, String>,
    }
    /// When a client may retry.
    RetryInfo => "RetryInfo" {
        /// How long to wait before retrying.
        retry_delay: Option<Duration>,
    }
    /// Debugging information for the service's developers.
    DebugInfo => "DebugInfo" {
        /// The stack trace.
        stack_entries: Vec<String>,
        /// Any other detail.
        detail: String,
    }
    /// A quota that was exceeded.
    QuotaFailure => "QuotaFailure" {
        /// The quotas exceeded.
        violations: Vec<QuotaViolation>,
    }
    /// Preconditions that failed.
    PreconditionFailure => "PreconditionFailure" {
        /// The failed preconditions.
        violations: Vec<PreconditionViolation>,
    }
    /// Problems with the request's fields.
    BadRequest => "BadRequest" {
        /// The problems.
        field_violations: Vec<FieldViolation>,
    }
    /// Which request failed, for support.
    RequestInfo => "RequestInfo" {
        /// The request's id.
        request_id: String,
        /// Data that helps the server's team trace it.
        serving_data: String,
    }
    /// The resource the error concerns.
    ResourceInfo => "ResourceInfo" {
        /// Its type.
        resource_type: String,
        /// Its name.
        resource_name: String,
        /// Its owner.
        owner: String,
        /// What went wrong with it.
        description: String,
    }
    /// Links to documentation.
    Help => "Help" {
        /// The links.
        links: Vec<HelpLink>,
    }
    /// An error message for end users, in a locale.
    LocalizedMessage => "LocalizedMessage" {
        /// The locale, such as `en-US`.
        locale: String,
        /// The message.
        message: String,
    }
}

/// One exceeded quota (`google.rpc.QuotaFailure.Violation`).
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate", name = "QuotaFailure.Violation")]
pub struct QuotaViolation {
    /// What the quota applies to.
    pub subject: String,
    /// How it was exceeded.
    pub description: String,
    /// The API service the quota belongs to, such as `pubsub.googleapis.com`.
    pub api_service: String,
    /// The metric the quota counts.
    pub quota_metric: String,
    /// The quota's id.
    pub quota_id: String,
    /// The dimensions the quota applies in.
    pub quota_dimensions: BTreeMap<String, String>,
    /// The quota's value when it was exceeded.
    pub quota_value: i64,
    /// Its value once a pending change takes effect, if one is rolling out.
    pub future_quota_value: Option<i64>,
}

/// One failed precondition (`google.rpc.PreconditionFailure.Violation`).
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate", name = "PreconditionFailure.Violation")]
pub struct PreconditionViolation {
    /// The kind of precondition, such as `TOS`.
    pub r#type: String,
    /// What it applies to.
    pub subject: String,
    /// How it failed.
    pub description: String,
}

/// One problem with a request field (`google.rpc.BadRequest.FieldViolation`).
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate", name = "BadRequest.FieldViolation")]
pub struct FieldViolation {
    /// The field's path, such as `items[2].name`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
    /// A constant in UPPER_SNAKE_CASE naming the problem.
    pub reason: String,
    /// The problem, for end users.
    pub localized_message: Option<LocalizedMessage>,
}

/// One documentation link (`google.rpc.Help.Link`).
#[derive(Message, Clone, Debug, PartialEq)]
#[proto(crate = "crate", name = "Help.Link")]
pub struct HelpLink {
    /// What it explains.
    pub description: String,
    /// Where.
    pub url: String,
}

impl Status {
    /// Adds a typed detail to the status's `google.rpc.Status` (sent as
    /// `grpc-status-details-bin`), next to any added before.
    pub fn with_detail<D: ErrorDetail>(self, detail: D) -> Status {
        let mut rpc = self.rpc_status().unwrap_or_else(|| RpcStatus {
            code: 0,
            message: String::new(),
            details: Vec::new(),
        });
        rpc.code = self.code().as_i32();
        rpc.message = self.message().to_owned();
        rpc.details.push(Any {
            type_url: D::TYPE_URL.to_owned(),
            value: detail.encode_to_vec(),
        });
        self.with_details(rpc.encode_to_vec())
    }

    /// The details as a `google.rpc.Status`, if there are any and they decode as one.
    pub fn rpc_status(&self) -> Option<RpcStatus> {
        if self.details().is_empty() {
            return None;
        }
        RpcStatus::decode(self.details().clone()).ok()
    }

    /// The first detail of type `D`.
    pub fn detail<D: ErrorDetail>(&self) -> Option<D> {
        self.rpc_status()?
            .details
            .into_iter()
            .find(|any| any.type_url == D::TYPE_URL)
            .and_then(|any| D::decode(any.value).ok())
    }
}
