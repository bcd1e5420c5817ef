//! What each method is and may do: who may call it, whether it streams, how large its request may
//! be, and how long it may run. Deny by default: a method without an entry in [`ACCESS`] is never
//! served, and a test fails while any method of the served descriptors lacks one.

use std::{collections::HashMap, time::Duration};

use prost::Message as _;
use prost_types::FileDescriptorSet;

use crate::domain::principal::PrincipalKind;

/// The kinds of principal that may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Callers(&'static [PrincipalKind]);

impl Callers {
    /// Anyone, with or without a credential: the catalogue, health and reflection.
    pub const ANYONE: Callers = Callers(&PrincipalKind::ALL);

    /// Only these kinds.
    pub const fn only(kinds: &'static [PrincipalKind]) -> Self {
        Callers(kinds)
    }

    /// Whether a principal of `kind` may call.
    pub fn allows(self, kind: PrincipalKind) -> bool {
        self.0.contains(&kind)
    }
}

const AGENCIES: Callers = Callers::only(&[PrincipalKind::Agency]);
const PORTALS: Callers = Callers::only(&[PrincipalKind::Portal]);
const AGENCIES_AND_PORTALS: Callers =
    Callers::only(&[PrincipalKind::Agency, PrincipalKind::Portal]);
const AGENCIES_AND_AUDITORS: Callers =
    Callers::only(&[PrincipalKind::Agency, PrincipalKind::Auditor]);
const PORTALS_AND_AUDITORS: Callers =
    Callers::only(&[PrincipalKind::Portal, PrincipalKind::Auditor]);
const AGENCIES_AND_ADMINISTRATORS: Callers =
    Callers::only(&[PrincipalKind::Agency, PrincipalKind::Administrator]);

/// Every method the server serves and who may call it. Later services add their methods here
/// with the principals allowed.
pub const ACCESS: &[(&str, Callers)] = &[
    ("/singlewindow.v1.CatalogService/GetAgency", Callers::ANYONE),
    (
        "/singlewindow.v1.CatalogService/ListAgencies",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/GetService",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/ListServices",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/SearchServices",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/GetServiceStandard",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/ListServiceStandards",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/GetLifeEvent",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CatalogService/ListLifeEvents",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.CitizenService/CreateCitizen",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/GetCitizen",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/UpdateCitizen",
        AGENCIES_AND_PORTALS,
    ),
    ("/singlewindow.v1.CitizenService/FindCitizen", AGENCIES),
    (
        "/singlewindow.v1.CitizenService/GrantConsent",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/RevokeConsent",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/ListConsents",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/ListAccessEvents",
        PORTALS_AND_AUDITORS,
    ),
    ("/singlewindow.v1.CitizenService/IssueClaimCode", AGENCIES),
    ("/singlewindow.v1.CitizenService/ClaimCitizen", PORTALS),
    (
        "/singlewindow.v1.CitizenService/AuthorizeRepresentative",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/RevokeRepresentative",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/ListRepresentatives",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.CitizenService/ListChangeNotices",
        AGENCIES,
    ),
    (
        "/singlewindow.v1.CitizenService/WatchChangeNotices",
        AGENCIES,
    ),
    ("/singlewindow.v1.RoutingService/RouteNeed", Callers::ANYONE),
    (
        "/singlewindow.v1.RequestService/OpenRequest",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.RequestService/GetRequest",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.RequestService/ListRequests",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.RequestService/GetJourney",
        AGENCIES_AND_PORTALS,
    ),
    ("/singlewindow.v1.RequestService/AcceptHandoff", AGENCIES),
    ("/singlewindow.v1.RequestService/DeclineHandoff", AGENCIES),
    ("/singlewindow.v1.RequestService/StartWork", AGENCIES),
    ("/singlewindow.v1.RequestService/WaitOnCitizen", AGENCIES),
    ("/singlewindow.v1.RequestService/ResumeWork", AGENCIES),
    ("/singlewindow.v1.RequestService/ReferOnward", AGENCIES),
    ("/singlewindow.v1.RequestService/CompleteHandoff", AGENCIES),
    (
        "/singlewindow.v1.RequestService/WithdrawRequest",
        AGENCIES_AND_PORTALS,
    ),
    ("/singlewindow.v1.RequestService/WatchAssignments", AGENCIES),
    (
        "/singlewindow.v1.FeedbackService/RecordSatisfaction",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.FeedbackService/ListSurveyInvitations",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.FeedbackService/GetSatisfactionReport",
        AGENCIES_AND_AUDITORS,
    ),
    (
        "/singlewindow.v1.FeedbackService/GetKeyDrivers",
        AGENCIES_AND_AUDITORS,
    ),
    (
        "/singlewindow.v1.FeedbackService/ListEarlyWarnings",
        AGENCIES_AND_AUDITORS,
    ),
    (
        "/singlewindow.v1.FeedbackService/GetEarlyWarning",
        AGENCIES_AND_AUDITORS,
    ),
    (
        "/singlewindow.v1.FeedbackService/AcknowledgeEarlyWarning",
        AGENCIES,
    ),
    (
        "/singlewindow.v1.FeedbackService/GetChannelReport",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.FeedbackService/GetPublicReport",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.FormService/CreateForm",
        AGENCIES_AND_ADMINISTRATORS,
    ),
    ("/singlewindow.v1.FormService/GetForm", Callers::ANYONE),
    ("/singlewindow.v1.FormService/ListForms", Callers::ANYONE),
    (
        "/singlewindow.v1.FormService/UpdateForm",
        AGENCIES_AND_ADMINISTRATORS,
    ),
    (
        "/singlewindow.v1.FormService/PublishFormVersion",
        AGENCIES_AND_ADMINISTRATORS,
    ),
    (
        "/singlewindow.v1.FormService/RetireFormVersion",
        AGENCIES_AND_ADMINISTRATORS,
    ),
    (
        "/singlewindow.v1.FormService/AdoptForm",
        AGENCIES_AND_ADMINISTRATORS,
    ),
    (
        "/singlewindow.v1.FormService/ValidateAnswers",
        Callers::ANYONE,
    ),
    (
        "/singlewindow.v1.FormService/PrefillForm",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.FormService/SubmitForm",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.FormService/GetSubmission",
        AGENCIES_AND_PORTALS,
    ),
    (
        "/singlewindow.v1.FormService/ListSubmissions",
        AGENCIES_AND_PORTALS,
    ),
    ("/grpc.health.v1.Health/Check", Callers::ANYONE),
    ("/grpc.health.v1.Health/Watch", Callers::ANYONE),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Callers::ANYONE,
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        Callers::ANYONE,
    ),
];

/// Request size limits of methods that need other than the default (none yet: forms with
/// attachments will).
const REQUEST_LIMITS: &[(&str, usize)] = &[];

/// How a method exchanges messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One request, one response: limited by the server's maximum deadline and the concurrency
    /// limit.
    Unary,
    /// One request, a stream of responses: long-lived, outside the concurrency limit, ended only
    /// by the client's own deadline, the client, or the drain.
    ServerStreaming,
    /// A stream of requests (reflection): like server streaming, and its request messages are
    /// checked by the codec rather than before the handler.
    ClientStreaming,
}

/// Everything the call stack needs to know about one method.
#[derive(Debug, Clone)]
pub struct MethodPolicy {
    pub callers: Callers,
    pub shape: Shape,
    pub max_request_bytes: usize,
    /// The longest the method may run, whatever the client asks; `None` for streams.
    pub max_deadline: Option<Duration>,
}

/// The policies of every served method, keyed by path (`/package.Service/Method`).
#[derive(Debug, Clone)]
pub struct Policies(HashMap<String, MethodPolicy>);

impl Policies {
    /// Policies for every method of `descriptor_sets` that [`ACCESS`] declares; methods it does
    /// not declare get none and are refused.
    pub fn build(
        descriptor_sets: &[&[u8]],
        default_request_bytes: usize,
        max_deadline: Duration,
    ) -> Self {
        Self::build_with(
            descriptor_sets,
            default_request_bytes,
            max_deadline,
            REQUEST_LIMITS,
        )
    }

    fn build_with(
        descriptor_sets: &[&[u8]],
        default_request_bytes: usize,
        max_deadline: Duration,
        request_limits: &[(&str, usize)],
    ) -> Self {
        let mut policies = HashMap::new();
        for (path, shape) in methods(descriptor_sets) {
            let Some((_, callers)) = ACCESS.iter().find(|(p, _)| *p == path) else {
                continue;
            };
            let max_request_bytes = request_limits
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(default_request_bytes, |(_, limit)| *limit);
            let max_deadline = (shape == Shape::Unary).then_some(max_deadline);
            policies.insert(
                path,
                MethodPolicy {
                    callers: *callers,
                    shape,
                    max_request_bytes,
                    max_deadline,
                },
            );
        }
        Self(policies)
    }

    /// The policy of the method at `path`, if it is served.
    pub fn get(&self, path: &str) -> Option<&MethodPolicy> {
        self.0.get(path)
    }

    /// The largest request any served method accepts (tonic's own decode limit is set to it).
    pub fn max_request_bytes(&self) -> usize {
        self.0
            .values()
            .map(|p| p.max_request_bytes)
            .max()
            .unwrap_or(0)
    }
}

/// Every method path in `descriptor_sets` with its shape.
pub fn methods(descriptor_sets: &[&[u8]]) -> Vec<(String, Shape)> {
    let mut out = Vec::new();
    for bytes in descriptor_sets {
        let Ok(set) = FileDescriptorSet::decode(*bytes) else {
            continue;
        };
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    let shape = match (method.client_streaming(), method.server_streaming()) {
                        (false, false) => Shape::Unary,
                        (false, true) => Shape::ServerStreaming,
                        (true, _) => Shape::ClientStreaming,
                    };
                    out.push((path, shape));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{FILE_DESCRIPTOR_SET, HEALTH_DESCRIPTOR_SET};

    #[test]
    fn a_method_may_declare_its_own_request_limit() {
        let search = "/singlewindow.v1.CatalogService/SearchServices";
        let policies = Policies::build_with(
            &[FILE_DESCRIPTOR_SET],
            4 << 20,
            Duration::from_secs(30),
            &[(search, 16 << 20)],
        );
        assert_eq!(
            policies.get(search).expect("declared").max_request_bytes,
            16 << 20
        );
        let get = policies
            .get("/singlewindow.v1.CatalogService/GetService")
            .expect("declared");
        assert_eq!(get.max_request_bytes, 4 << 20, "others keep the default");
        assert_eq!(
            policies.max_request_bytes(),
            16 << 20,
            "tonic's own limit follows the largest"
        );
    }

    #[test]
    fn every_served_method_declares_who_may_call_it() {
        let sets = [
            FILE_DESCRIPTOR_SET,
            HEALTH_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let served = methods(&sets);
        assert!(served.len() >= 13, "{served:?}");
        let undeclared: Vec<_> = served
            .iter()
            .filter(|(path, _)| !ACCESS.iter().any(|(p, _)| p == path))
            .collect();
        assert!(
            undeclared.is_empty(),
            "methods without an access policy: {undeclared:?}"
        );
        let stale: Vec<_> = ACCESS
            .iter()
            .filter(|(p, _)| !served.iter().any(|(path, _)| path == p))
            .collect();
        assert!(
            stale.is_empty(),
            "policies for methods nobody serves: {stale:?}"
        );
    }

    #[test]
    fn an_undeclared_method_gets_no_policy_and_streams_get_no_server_deadline() {
        let policies = Policies::build(
            &[FILE_DESCRIPTOR_SET, HEALTH_DESCRIPTOR_SET],
            4 << 20,
            Duration::from_secs(30),
        );
        assert!(
            policies
                .get("/singlewindow.v1.CatalogService/Nope")
                .is_none()
        );
        let get = policies
            .get("/singlewindow.v1.CatalogService/GetService")
            .expect("declared");
        assert_eq!(
            (get.shape, get.max_deadline),
            (Shape::Unary, Some(Duration::from_secs(30)))
        );
        let watch = policies
            .get("/grpc.health.v1.Health/Watch")
            .expect("declared");
        assert_eq!(
            (watch.shape, watch.max_deadline),
            (Shape::ServerStreaming, None)
        );
    }
}
