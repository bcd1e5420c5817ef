"""The README's walk-through, run by a second gRPC implementation (Python grpcio, the C core).

tests/interop/run.sh generates the stubs from proto/ into a temporary directory on PYTHONPATH,
starts the binary on a fresh database and sets:

- SW_ADDRESS: the server's bound address (plaintext, loopback);
- SW_CREDENTIALS: the file `single-window demo credentials --format json` wrote;
- SW_VERIFIER_KEY: the access log's verifier key as `single-window audit public-key` publishes it.

Every test asserts what the API documents (proto comments and README), with real credentials in
call metadata (`authorization: Bearer ...`, and `x-citizen-token` for the portal acting for a
citizen). Errors are checked through the `grpc-status-details-bin` trailer, decoded as a
google.rpc.Status. The access log is verified here, independently of the server's own code: the
leaf text from the event's fields, RFC 9162 leaf and node hashing, inclusion and consistency
proofs, the whole tree's root, and the checkpoint's Ed25519 signature in its signed note.
"""

import base64
import datetime
import hashlib
import json
import os
import queue
import re
import threading
import time
import unittest
import uuid

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import health_pb2
import health_pb2_grpc
from google.rpc import error_details_pb2, status_pb2
from singlewindow.v1 import catalog_service_pb2 as catalog
from singlewindow.v1 import catalog_service_pb2_grpc as catalog_grpc
from singlewindow.v1 import citizen_service_pb2 as citizens
from singlewindow.v1 import citizen_service_pb2_grpc as citizens_grpc
from singlewindow.v1 import feedback_service_pb2 as feedback
from singlewindow.v1 import feedback_service_pb2_grpc as feedback_grpc
from singlewindow.v1 import form_service_pb2 as forms
from singlewindow.v1 import form_service_pb2_grpc as forms_grpc
from singlewindow.v1 import request_service_pb2 as requests
from singlewindow.v1 import request_service_pb2_grpc as requests_grpc
from singlewindow.v1 import routing_service_pb2 as routing
from singlewindow.v1 import routing_service_pb2_grpc as routing_grpc
from singlewindow.v1 import types_pb2 as types

TIMEOUT = 30  # seconds, per unary call
DOMAIN = "singlewindow.v1"
AMELIE = "citizens/demo-amelie"
JORDAN = "citizens/demo-jordan"
ESDC_AGENCY = "agencies/esdc-edsc"
CRA_AGENCY = "agencies/cra-arc"
LAID_OFF = "I was laid off, how do I get money while I look for work"

# Every citizen the suite knows of: the demo citizens, and any it creates. The auditor rebuilds
# the whole access log from their events.
KNOWN_CITIZENS = [AMELIE, JORDAN]

C = None  # the channel, opened in setUpModule
CREDENTIALS = []


def setUpModule():
    global C, CREDENTIALS
    with open(os.environ["SW_CREDENTIALS"], encoding="utf-8") as f:
        CREDENTIALS = json.load(f)
    C = grpc.insecure_channel(os.environ["SW_ADDRESS"])
    grpc.channel_ready_future(C).result(timeout=TIMEOUT)


def tearDownModule():
    if C is not None:
        C.close()


# --- credentials and metadata


def token_of(principal):
    for entry in CREDENTIALS:
        if entry["principal"] == principal and "citizen" not in entry:
            return entry["token"]
    raise LookupError(f"no demo credential for {principal}")


def portal_for(citizen):
    for entry in CREDENTIALS:
        if entry.get("citizen") == citizen:
            return entry["token"], entry["citizen_token"]
    raise LookupError(f"no portal credential for {citizen}")


def bearer(token, *extra):
    return (("authorization", f"Bearer {token}"),) + tuple(extra)


def esdc(*extra):
    return bearer(token_of("agencies/esdc-edsc/teams/ei-benefits"), *extra)


def cra(*extra):
    return bearer(token_of("agencies/cra-arc/teams/benefits-credits"), *extra)


def cic(*extra):
    return bearer(token_of("agencies/cic/teams/passports"), *extra)


def auditor(*extra):
    return bearer(token_of("auditors/demo-auditor"), *extra)


def as_citizen(citizen, *extra):
    """The portal acting for `citizen`: its key and her identity provider's token."""
    portal, citizen_token = portal_for(citizen)
    return bearer(portal, ("x-citizen-token", citizen_token), *extra)


def request_id():
    return str(uuid.uuid4())


# --- stubs


def catalog_stub():
    return catalog_grpc.CatalogServiceStub(C)


def citizens_stub():
    return citizens_grpc.CitizenServiceStub(C)


def routing_stub():
    return routing_grpc.RoutingServiceStub(C)


def requests_stub():
    return requests_grpc.RequestServiceStub(C)


def feedback_stub():
    return feedback_grpc.FeedbackServiceStub(C)


def forms_stub():
    return forms_grpc.FormServiceStub(C)


# --- errors


class StatusDetails:
    """The google.rpc.Status of a failed call, from its `grpc-status-details-bin` trailer."""

    def __init__(self, error):
        self.error = error
        raw = [v for k, v in (error.trailing_metadata() or ()) if k == "grpc-status-details-bin"]
        if len(raw) != 1:
            raise AssertionError(
                f"{error.code().name} ({error.details()!r}) carries {len(raw)} "
                "grpc-status-details-bin trailers, not one"
            )
        self.raw = raw[0]
        self.status = status_pb2.Status.FromString(raw[0])
        self.error_info = None
        self.bad_request = None
        self.precondition_failure = None
        self.other = []
        for any_ in self.status.details:
            for cls, attr in (
                (error_details_pb2.ErrorInfo, "error_info"),
                (error_details_pb2.BadRequest, "bad_request"),
                (error_details_pb2.PreconditionFailure, "precondition_failure"),
            ):
                if any_.Is(cls.DESCRIPTOR):
                    message = cls()
                    any_.Unpack(message)
                    setattr(self, attr, message)
                    break
            else:
                self.other.append(any_.type_url)

    @property
    def reason(self):
        return self.error_info.reason if self.error_info else None

    def violations(self):
        return [(v.field, v.reason) for v in self.bad_request.field_violations] if self.bad_request else []


class InteropCase(unittest.TestCase):
    maxDiff = None

    def assertRpcError(self, code, method, request, metadata=(), reason=None):
        """Calls `method`, expects it to fail with `code`, and returns its decoded details.

        Every error of the API is a google.rpc.Status whose ErrorInfo is in domain
        `singlewindow.v1`, and the trailer agrees with the call's own status code and message.
        """
        with self.assertRaises(grpc.RpcError) as raised:
            method(request, metadata=metadata, timeout=TIMEOUT)
        error = raised.exception
        self.assertEqual(error.code(), code, f"{error.code().name}: {error.details()}")
        details = StatusDetails(error)
        self.assertEqual(details.status.code, code.value[0], "the Status in the trailer has the call's code")
        self.assertEqual(details.status.message, error.details(), "the Status in the trailer has the call's message")
        self.assertIsNotNone(details.error_info, f"an ErrorInfo among {list(details.status.details)}")
        self.assertEqual(details.error_info.domain, DOMAIN)
        if reason is not None:
            self.assertEqual(details.reason, reason)
        return details


# --- 1. health


class T1HealthTest(InteropCase):
    def test_the_whole_server_is_serving(self):
        health = health_pb2_grpc.HealthStub(C)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
        self.assertEqual(answer.status, health_pb2.HealthCheckResponse.SERVING)

    def test_each_documented_service_is_serving(self):
        health = health_pb2_grpc.HealthStub(C)
        for service in (
            "singlewindow.v1.CatalogService",
            "singlewindow.v1.CitizenService",
            "singlewindow.v1.RoutingService",
        ):
            with self.subTest(service=service):
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
                self.assertEqual(answer.status, health_pb2.HealthCheckResponse.SERVING)

    def test_an_unknown_service_is_not_found_as_the_health_protocol_says(self):
        health = health_pb2_grpc.HealthStub(C)
        with self.assertRaises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=TIMEOUT)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_the_health_watch_stream_starts_with_serving(self):
        health = health_pb2_grpc.HealthStub(C)
        stream = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
        try:
            first = next(stream)
            self.assertEqual(first.status, health_pb2.HealthCheckResponse.SERVING)
        finally:
            stream.cancel()


# --- 2. the catalogue


class T2CatalogueTest(InteropCase):
    def test_get_service_returns_employment_insurance_with_its_standards_embedded(self):
        service = catalog_stub().GetService(catalog.GetServiceRequest(name="services/1003"), timeout=TIMEOUT)
        self.assertEqual(service.name, "services/1003")
        self.assertIn("Employment Insurance", service.display_name.en)
        self.assertTrue(service.display_name.fr, "French name published")
        self.assertEqual(service.agency, ESDC_AGENCY)
        self.assertGreater(len(service.standards), 0)
        for standard in service.standards:
            self.assertEqual(standard.service, "services/1003")
            self.assertTrue(standard.name.startswith("services/1003/standards/"), standard.name)
        self.assertGreater(sum(len(s.thresholds) for s in service.standards), 0, "some standard has a parsed time limit")
        self.assertIn("forms/change-of-address", service.forms)

    def test_search_services_ranks_passport_services_of_ircc_first_with_falling_scores(self):
        answer = catalog_stub().SearchServices(
            catalog.SearchServicesRequest(query="renew my passport", page_size=3), timeout=TIMEOUT
        )
        self.assertEqual(len(answer.results), 3)
        self.assertEqual(answer.results[0].service.agency, "agencies/cic")
        scores = [r.score for r in answer.results]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertGreater(scores[0], scores[-1])

    def test_list_services_pages_with_a_token_bound_to_its_filters(self):
        stub = catalog_stub()
        first = stub.ListServices(catalog.ListServicesRequest(agencies=["agencies/cic"], page_size=5), timeout=TIMEOUT)
        self.assertEqual(len(first.services), 5)
        self.assertTrue(first.next_page_token)
        second = stub.ListServices(
            catalog.ListServicesRequest(agencies=["agencies/cic"], page_size=5, page_token=first.next_page_token),
            timeout=TIMEOUT,
        )
        self.assertGreater(len(second.services), 0)
        self.assertFalse({s.name for s in first.services} & {s.name for s in second.services}, "no service twice")
        details = self.assertRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            stub.ListServices,
            catalog.ListServicesRequest(agencies=["agencies/cra-arc"], page_size=5, page_token=first.next_page_token),
            reason="INVALID_PAGE_TOKEN",
        )
        self.assertIn("page_token", [field for field, _ in details.violations()])

    def test_a_negative_page_size_is_invalid_argument_with_error_info_and_bad_request(self):
        details = self.assertRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            catalog_stub().ListServices,
            catalog.ListServicesRequest(page_size=-1),
            reason="INVALID_ARGUMENT",
        )
        self.assertIsNotNone(details.bad_request)
        self.assertEqual([v.field for v in details.bad_request.field_violations], ["page_size"])
        self.assertTrue(details.bad_request.field_violations[0].description)

    def test_an_unknown_service_is_not_found_naming_the_resource(self):
        details = self.assertRpcError(
            grpc.StatusCode.NOT_FOUND,
            catalog_stub().GetService,
            catalog.GetServiceRequest(name="services/nope"),
            reason="RESOURCE_NOT_FOUND",
        )
        self.assertEqual(details.error_info.metadata["resource_name"], "services/nope")

    def test_every_answer_echoes_the_callers_request_id(self):
        _, call = catalog_stub().GetService.with_call(
            catalog.GetServiceRequest(name="services/1003"),
            metadata=(("x-request-id", "interop-echo-1"),),
            timeout=TIMEOUT,
        )
        self.assertIn(("x-request-id", "interop-echo-1"), [(m.key, m.value) for m in call.initial_metadata()])


# --- 3. who may call


class T3WhoMayCallTest(InteropCase):
    def test_a_demo_agency_key_is_accepted(self):
        service = catalog_stub().GetService(catalog.GetServiceRequest(name="services/1003"), metadata=esdc(), timeout=TIMEOUT)
        self.assertEqual(service.name, "services/1003")

    def test_a_wrong_key_is_unauthenticated_even_where_the_public_may_call(self):
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            catalog_stub().GetService,
            catalog.GetServiceRequest(name="services/1003"),
            metadata=bearer("wrong"),
            reason="UNAUTHENTICATED",
        )

    def test_an_authorization_header_that_is_not_bearer_is_unauthenticated(self):
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            catalog_stub().GetService,
            catalog.GetServiceRequest(name="services/1003"),
            metadata=(("authorization", "Basic " + base64.b64encode(b"a:b").decode()),),
            reason="UNAUTHENTICATED",
        )

    def test_no_credential_on_a_method_that_needs_one_is_unauthenticated(self):
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            requests_stub().ListRequests,
            requests.ListRequestsRequest(),
            reason="UNAUTHENTICATED",
        )
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            feedback_stub().GetSatisfactionReport,
            feedback.GetSatisfactionReportRequest(grouping=feedback.REPORT_GROUPING_AGENCY),
            reason="UNAUTHENTICATED",
        )

    def test_an_agency_reading_access_logs_is_permission_denied(self):
        self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            citizens_stub().ListAccessEvents,
            citizens.ListAccessEventsRequest(parent=AMELIE),
            metadata=esdc(),
            reason="PERMISSION_DENIED",
        )

    def test_an_auditor_opening_a_request_is_permission_denied(self):
        self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            requests_stub().OpenRequest,
            requests.OpenRequestRequest(
                citizen=AMELIE, need=routing.Need(text=LAID_OFF), request_id=request_id()
            ),
            metadata=auditor(),
            reason="PERMISSION_DENIED",
        )

    def test_a_portal_watching_assignments_is_permission_denied_on_the_stream(self):
        stream = requests_stub().WatchAssignments(
            requests.WatchAssignmentsRequest(), metadata=as_citizen(AMELIE), timeout=TIMEOUT
        )
        with self.assertRaises(grpc.RpcError) as raised:
            next(stream)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(StatusDetails(raised.exception).reason, "PERMISSION_DENIED")

    def test_a_portal_without_the_citizen_token_is_unauthenticated_on_the_citizen_service(self):
        portal, _ = portal_for(AMELIE)
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            citizens_stub().GetCitizen,
            citizens.GetCitizenRequest(name=AMELIE),
            metadata=bearer(portal),
            reason="UNAUTHENTICATED",
        )

    def test_a_citizen_token_with_an_agency_credential_is_unauthenticated(self):
        _, citizen_token = portal_for(AMELIE)
        self.assertRpcError(
            grpc.StatusCode.UNAUTHENTICATED,
            citizens_stub().GetCitizen,
            citizens.GetCitizenRequest(name=AMELIE, purpose=citizens.CONSENT_PURPOSE_SERVICE_DELIVERY),
            metadata=esdc(("x-citizen-token", citizen_token)),
            reason="UNAUTHENTICATED",
        )

    def test_a_denial_is_the_same_byte_for_byte_for_a_citizen_without_consent_and_one_who_does_not_exist(self):
        stub = citizens_stub()
        purpose = citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT
        existing = self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            stub.GetCitizen,
            citizens.GetCitizenRequest(name=JORDAN, purpose=purpose),
            metadata=cic(),
            reason="PERMISSION_DENIED",
        )
        missing = self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            stub.GetCitizen,
            citizens.GetCitizenRequest(name="citizens/no-such-citizen", purpose=purpose),
            metadata=cic(),
            reason="PERMISSION_DENIED",
        )
        self.assertEqual(existing.raw, missing.raw)
        self.assertEqual(existing.error.details(), missing.error.details())


# --- 4. the main journey: a wrong door at CRA, handed to ESDC, accepted, completed and rated


class AssignmentWatcher:
    """WatchAssignments read on a thread: every event lands in a queue."""

    def __init__(self, metadata, after_position=None):
        request = requests.WatchAssignmentsRequest()
        if after_position is not None:
            request.after_position = after_position
        self.call = requests_stub().WatchAssignments(request, metadata=metadata, timeout=120)
        self.events = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for event in self.call:
                self.events.put(event)
        except grpc.RpcError as error:
            self.error = error

    def wait_subscribed(self):
        # The server subscribes before it answers the call's headers.
        self.call.initial_metadata()

    def collect(self, until, timeout=20):
        """Events, in arrival order, until `until(events)` holds or the timeout passes."""
        seen = []
        deadline = time.monotonic() + timeout
        while not until(seen):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                seen.append(self.events.get(timeout=left))
            except queue.Empty:
                break
        return seen

    def stop(self):
        self.call.cancel()
        self.thread.join(timeout=10)


class T4JourneyTest(InteropCase):
    """Ordered steps (unittest runs them in name order); a failed step skips the ones after it."""

    state = {}
    failed_step = None

    @classmethod
    def setUpClass(cls):
        cls.watcher = AssignmentWatcher(esdc())
        cls.watcher.wait_subscribed()

    @classmethod
    def tearDownClass(cls):
        cls.watcher.stop()

    def setUp(self):
        if type(self).failed_step:
            self.skipTest(f"an earlier step failed: {type(self).failed_step}")

    def run(self, result=None):
        result = super().run(result)
        if result is not None and (result.failures or result.errors):
            names = [t.id() for t, _ in result.failures + result.errors]
            if self.id() in names and not type(self).failed_step:
                type(self).failed_step = self._testMethodName
        return result

    def leg_etag(self):
        request = requests_stub().GetRequest(requests.GetRequestRequest(name=self.state["request"]), metadata=esdc(), timeout=TIMEOUT)
        return request.handoffs[0].etag

    def test_01_the_portal_routes_her_need_in_her_own_words_to_employment_insurance_with_reasons(self):
        answer = routing_stub().RouteNeed(
            routing.RouteNeedRequest(need=routing.Need(text=LAID_OFF), citizen=AMELIE),
            metadata=as_citizen(AMELIE),
            timeout=TIMEOUT,
        )
        self.assertEqual(answer.language, routing.NEED_LANGUAGE_ENGLISH)
        self.assertGreater(len(answer.candidates), 0)
        best = answer.candidates[0]
        self.assertEqual(best.service, "services/1003")
        self.assertEqual(best.owner_agency, ESDC_AGENCY)
        self.assertEqual(best.hand_to_agency, ESDC_AGENCY)
        kinds = [r.kind for r in best.reasons]
        self.assertIn(routing.REASON_KIND_MATCHED_WORDS, kinds)
        for reason in best.reasons:
            self.assertTrue(reason.text.en and reason.text.fr, f"reason {reason.kind} in both languages")
        matched = [r for r in best.reasons if r.kind == routing.REASON_KIND_MATCHED_WORDS][0]
        self.assertGreater(len(matched.matches), 0, "the words matched are named")
        scores = [c.score for c in answer.candidates]
        self.assertEqual(scores, sorted(scores, reverse=True))

    def test_02_she_lets_cra_pass_her_contact_details_on_through_the_portal(self):
        consent = citizens_stub().GrantConsent(
            citizens.GrantConsentRequest(
                parent=AMELIE,
                consent=citizens.Consent(
                    grantee=CRA_AGENCY,
                    purpose=citizens.CONSENT_PURPOSE_REFERRAL,
                    categories=[citizens.CONSENT_CATEGORY_CONTACT],
                ),
            ),
            metadata=as_citizen(AMELIE),
            timeout=TIMEOUT,
        )
        self.assertEqual(consent.state, citizens.CONSENT_STATE_ACTIVE)
        self.assertEqual(consent.channel, types.CHANNEL_ONLINE)
        self.assertEqual(consent.grantee, CRA_AGENCY)

    def open_request(self, rid, note="Laid off on Friday; has her record of employment."):
        return requests_stub().OpenRequest(
            requests.OpenRequestRequest(
                citizen=AMELIE,
                need=routing.Need(text=LAID_OFF),
                entry_point=routing.EntryPoint(channel=types.CHANNEL_IN_PERSON),
                shared_categories=[citizens.CONSENT_CATEGORY_CONTACT],
                note=note,
                request_id=rid,
            ),
            metadata=cra(),
            timeout=TIMEOUT,
        )

    def cra_party_to(self):
        listed = requests_stub().ListRequests(
            requests.ListRequestsRequest(view=requests.REQUEST_VIEW_ALL, page_size=500), metadata=cra(), timeout=TIMEOUT
        )
        return listed

    def pair_figures(self):
        """The CRA -> ESDC group, unsuppressed, as the auditor reads it (zeros while it has none)."""
        report = feedback_stub().GetSatisfactionReport(
            feedback.GetSatisfactionReportRequest(
                grouping=feedback.REPORT_GROUPING_AGENCY_PAIR, agency=ESDC_AGENCY, unsuppressed=True
            ),
            metadata=auditor(),
            timeout=TIMEOUT,
        )
        self.assertTrue(report.unsuppressed)
        pair = [g for g in report.groups if g.key.from_agency == CRA_AGENCY and g.key.agency == ESDC_AGENCY]
        self.assertLessEqual(len(pair), 1)
        if not pair:
            return dict(suppression=0, ended=0, surveys_offered=0, responses=0, with_standard=0, answered=0,
                        distribution=[0] * 5, share_met_standard=0.0)
        group = pair[0]
        satisfaction = [d for d in group.drivers if d.driver == feedback.DRIVER_SATISFACTION][0]
        return dict(
            suppression=group.suppression,
            ended=group.ended,
            surveys_offered=group.surveys_offered,
            responses=group.responses,
            with_standard=group.with_standard,
            answered=satisfaction.answered,
            distribution=list(satisfaction.distribution) or [0] * 5,
            share_met_standard=group.share_met_standard,
        )

    def test_03_cra_opens_her_request_at_the_wrong_door_and_it_is_handed_to_esdc(self):
        self.state["cra_before"] = self.cra_party_to().total_size
        self.state["pair_before"] = self.pair_figures()
        rid = request_id()
        opened = self.open_request(rid)
        self.state.update(request=opened.name, open_request_id=rid, opened=opened)
        self.assertRegex(opened.name, r"^requests/[^/]+$")
        self.assertEqual(opened.citizen, AMELIE)
        self.assertEqual(opened.status, requests.REQUEST_STATUS_OPEN)
        self.assertEqual(opened.service, "services/1003")
        self.assertEqual(opened.owner_agency, ESDC_AGENCY)
        self.assertEqual(opened.opened_by, "agencies/cra-arc/teams/benefits-credits")
        self.assertEqual(len(opened.handoffs), 1)
        leg = opened.handoffs[0]
        self.state["leg"] = leg.name
        self.assertEqual(leg.name, opened.name + "/handoffs/1")
        self.assertEqual(leg.from_agency, CRA_AGENCY)
        self.assertEqual(leg.to_agency, ESDC_AGENCY)
        self.assertEqual(leg.reason, requests.HANDOFF_REASON_WRONG_DOOR)
        self.assertEqual(leg.state, requests.HANDOFF_STATE_OFFERED)
        self.assertTrue(leg.primary)
        self.assertEqual(list(leg.shared_categories), [citizens.CONSENT_CATEGORY_CONTACT])
        self.assertTrue(leg.etag)
        self.assertGreater(len(opened.ranking), 0)
        self.assertEqual(opened.ranking[0].service, "services/1003")
        self.assertTrue(opened.ranking[0].offered)

    def test_04_a_retry_with_the_same_request_id_returns_the_same_request_and_creates_nothing(self):
        again = self.open_request(self.state["open_request_id"])
        first = self.state["opened"]
        self.assertEqual(again.name, first.name)
        self.assertEqual(again.etag, first.etag)
        self.assertEqual(again.create_time, first.create_time)
        self.assertEqual([h.name for h in again.handoffs], [h.name for h in first.handoffs])
        listed = self.cra_party_to()
        self.assertEqual([r.name for r in listed.requests].count(first.name), 1)
        self.assertEqual(listed.total_size, self.state["cra_before"] + 1, "one request was opened, not two")

    def test_05_the_same_request_id_with_another_body_is_already_exists(self):
        self.assertRpcError(
            grpc.StatusCode.ALREADY_EXISTS,
            requests_stub().OpenRequest,
            requests.OpenRequestRequest(
                citizen=AMELIE,
                need=routing.Need(text=LAID_OFF),
                entry_point=routing.EntryPoint(channel=types.CHANNEL_IN_PERSON),
                shared_categories=[citizens.CONSENT_CATEGORY_CONTACT],
                note="another note",
                request_id=self.state["open_request_id"],
            ),
            metadata=cra(),
            reason="ALREADY_EXISTS",
        )

    def test_06_esdcs_assignment_stream_receives_the_offer_once(self):
        leg = self.state["leg"]
        seen = self.watcher.collect(lambda events: any(e.handoff == leg for e in events))
        ours = [e for e in seen if e.request == self.state["request"]]
        self.assertEqual(len(ours), 1, ours)
        offer = ours[0]
        self.assertEqual(offer.kind, requests.ASSIGNMENT_KIND_OFFERED)
        self.assertEqual(offer.handoff, leg)
        self.assertEqual(offer.state, requests.HANDOFF_STATE_OFFERED)
        self.assertGreater(offer.position, 0)
        self.state["events"] = list(ours)

    def test_07_esdcs_queue_lists_the_request(self):
        queue_ = requests_stub().ListRequests(requests.ListRequestsRequest(), metadata=esdc(), timeout=TIMEOUT)
        self.assertIn(self.state["request"], [r.name for r in queue_.requests])
        for listed in queue_.requests:
            self.assertFalse(listed.HasField("context"), "lists carry no record data")

    def test_08_esdc_reads_the_request_with_only_the_contact_details_her_consent_lets_it_see(self):
        request = requests_stub().GetRequest(requests.GetRequestRequest(name=self.state["request"]), metadata=esdc(), timeout=TIMEOUT)
        self.assertEqual(list(request.context_categories), [citizens.CONSENT_CATEGORY_CONTACT])
        self.assertEqual(request.context.contact.email, "amelie.tremblay@example.ca")
        self.assertFalse(request.context.HasField("identity"))
        self.assertEqual(len(request.context.addresses), 0)
        self.assertEqual(request.note, "Laid off on Friday; has her record of employment.")

    def test_09_an_agency_not_party_to_the_request_is_denied_as_if_it_did_not_exist(self):
        stub = requests_stub()
        party_less = self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            stub.GetRequest,
            requests.GetRequestRequest(name=self.state["request"]),
            metadata=cic(),
            reason="PERMISSION_DENIED",
        )
        missing = self.assertRpcError(
            grpc.StatusCode.PERMISSION_DENIED,
            stub.GetRequest,
            requests.GetRequestRequest(name="requests/" + "0" * len(self.state["request"].split("/")[1])),
            metadata=cic(),
            reason="PERMISSION_DENIED",
        )
        self.assertEqual(party_less.raw, missing.raw)

    def test_10_esdc_accepts_the_leg_and_a_retry_with_the_same_request_id_replays_the_answer(self):
        stub = requests_stub()
        etag = self.leg_etag()
        rid = request_id()
        accepted = stub.AcceptHandoff(
            requests.AcceptHandoffRequest(name=self.state["leg"], etag=etag, request_id=rid), metadata=esdc(), timeout=TIMEOUT
        )
        leg = accepted.handoffs[0]
        self.assertEqual(leg.state, requests.HANDOFF_STATE_ACCEPTED)
        self.assertNotEqual(leg.etag, etag, "the etag changes with the leg")
        self.assertEqual([s.state for s in leg.steps], [requests.HANDOFF_STATE_OFFERED, requests.HANDOFF_STATE_ACCEPTED])
        self.assertEqual(leg.steps[1].actor, "agencies/esdc-edsc/teams/ei-benefits")
        replay = stub.AcceptHandoff(
            requests.AcceptHandoffRequest(name=self.state["leg"], etag=etag, request_id=rid), metadata=esdc(), timeout=TIMEOUT
        )
        self.assertEqual(replay, accepted, "the retry answers what the first call answered")
        now = stub.GetRequest(requests.GetRequestRequest(name=self.state["request"]), metadata=esdc(), timeout=TIMEOUT)
        self.assertEqual(len(now.handoffs[0].steps), 2, "no step was taken twice")
        self.state["stale_etag"] = etag

    def test_11_a_step_with_a_stale_etag_is_aborted_etag_mismatch(self):
        self.assertRpcError(
            grpc.StatusCode.ABORTED,
            requests_stub().StartWork,
            requests.StartWorkRequest(name=self.state["leg"], etag=self.state["stale_etag"], request_id=request_id()),
            metadata=esdc(),
            reason="ETAG_MISMATCH",
        )

    def test_12_a_step_the_legs_state_does_not_allow_is_failed_precondition_naming_the_state(self):
        details = self.assertRpcError(
            grpc.StatusCode.FAILED_PRECONDITION,
            requests_stub().ResumeWork,
            requests.ResumeWorkRequest(name=self.state["leg"], etag=self.leg_etag(), request_id=request_id()),
            metadata=esdc(),
            reason="FAILED_PRECONDITION",
        )
        self.assertIsNotNone(details.precondition_failure, "a PreconditionFailure says which condition failed")
        violations = list(details.precondition_failure.violations)
        self.assertEqual([(v.type, v.subject) for v in violations], [("HANDOFF_STATE", self.state["leg"])])
        self.assertIn("accepted", violations[0].description, "the refusal names the leg's state")

    def test_13_esdc_starts_work_and_completes_the_leg_and_the_request_is_completed(self):
        stub = requests_stub()
        started = stub.StartWork(
            requests.StartWorkRequest(name=self.state["leg"], etag=self.leg_etag(), request_id=request_id()), metadata=esdc(), timeout=TIMEOUT
        )
        self.assertEqual(started.handoffs[0].state, requests.HANDOFF_STATE_IN_PROGRESS)
        completed = stub.CompleteHandoff(
            requests.CompleteHandoffRequest(
                name=self.state["leg"],
                etag=started.handoffs[0].etag,
                outcome=requests.HANDOFF_OUTCOME_DELIVERED,
                text="Your claim is approved; your first payment follows within 28 days.",
                request_id=request_id(),
            ),
            metadata=esdc(),
            timeout=TIMEOUT,
        )
        self.assertEqual(completed.status, requests.REQUEST_STATUS_COMPLETED)
        self.assertTrue(completed.HasField("end_time"))
        leg = completed.handoffs[0]
        self.assertEqual(leg.state, requests.HANDOFF_STATE_COMPLETED)
        self.assertEqual(leg.outcome, requests.HANDOFF_OUTCOME_DELIVERED)
        self.assertEqual(
            [s.state for s in leg.steps],
            [
                requests.HANDOFF_STATE_OFFERED,
                requests.HANDOFF_STATE_ACCEPTED,
                requests.HANDOFF_STATE_IN_PROGRESS,
                requests.HANDOFF_STATE_COMPLETED,
            ],
        )
        self.assertEqual(leg.clock.status, requests.CLOCK_STATUS_MET)
        self.assertTrue(leg.clock.HasField("end_time"))

    def test_14_the_stream_pushed_each_change_in_position_order(self):
        request = self.state["request"]
        done = lambda events: any(e.request == request and e.state == requests.HANDOFF_STATE_COMPLETED for e in events)
        more = self.watcher.collect(done)
        events = self.state["events"] + [e for e in more if e.request == request]
        self.assertEqual(
            [e.state for e in events],
            [
                requests.HANDOFF_STATE_OFFERED,
                requests.HANDOFF_STATE_ACCEPTED,
                requests.HANDOFF_STATE_IN_PROGRESS,
                requests.HANDOFF_STATE_COMPLETED,
            ],
        )
        self.assertEqual([e.kind for e in events[1:]], [requests.ASSIGNMENT_KIND_CHANGED] * 3)
        positions = [e.position for e in events]
        self.assertEqual(positions, sorted(set(positions)), "positions increase, none repeated")
        self.state["events"] = events

    def test_15_watching_again_after_a_position_replays_what_followed_it_and_nothing_else(self):
        events = self.state["events"]
        request = self.state["request"]
        again = AssignmentWatcher(esdc(), after_position=events[0].position)
        try:
            done = lambda seen: any(e.request == request and e.state == requests.HANDOFF_STATE_COMPLETED for e in seen)
            replayed = again.collect(done)
        finally:
            again.stop()
        replayed = [e for e in replayed if e.request == request]
        self.assertEqual([(e.position, e.state) for e in replayed], [(e.position, e.state) for e in events[1:]])

    def test_16_she_reads_her_journey_against_its_standard_in_both_languages(self):
        journey = requests_stub().GetJourney(
            requests.GetJourneyRequest(name=self.state["request"]), metadata=as_citizen(AMELIE), timeout=TIMEOUT
        )
        self.assertEqual(journey.request, self.state["request"])
        self.assertEqual(journey.status, requests.REQUEST_STATUS_COMPLETED)
        self.assertEqual(len(journey.legs), 1)
        leg = journey.legs[0]
        self.assertEqual(leg.handoff, self.state["leg"])
        self.assertEqual(leg.agency, ESDC_AGENCY)
        self.assertEqual(leg.clock.status, requests.CLOCK_STATUS_MET)
        self.assertTrue(leg.summary.en.startswith("Standard:"), leg.summary.en)
        self.assertTrue(leg.summary.fr.startswith("Norme"), leg.summary.fr)
        self.assertEqual(len(leg.events), 4)
        for event in leg.events:
            self.assertTrue(event.text.en and event.text.fr)

    def rate(self, rid, satisfaction=5):
        return feedback_stub().RecordSatisfaction(
            feedback.RecordSatisfactionRequest(
                subject=self.state["leg"],
                scores=feedback.Scores(satisfaction=satisfaction, trust=4, ease=4, efficiency=5),
                contacts=1,
                request_id=rid,
            ),
            metadata=as_citizen(AMELIE),
            timeout=TIMEOUT,
        )

    def test_17_she_rates_the_ended_leg_and_the_response_keeps_the_wrong_door_it_came_through(self):
        invitations = feedback_stub().ListSurveyInvitations(
            feedback.ListSurveyInvitationsRequest(parent=AMELIE), metadata=as_citizen(AMELIE), timeout=TIMEOUT
        )
        self.assertIn(self.state["leg"], [i.subject for i in invitations.invitations], "the ended leg invites a survey")
        rid = request_id()
        response = self.rate(rid)
        self.assertRegex(response.name, r"^surveyResponses/[^/]+$")
        self.assertEqual(response.subject, self.state["leg"])
        self.assertEqual(response.kind, feedback.SUBJECT_KIND_HANDOFF)
        self.assertEqual(response.agency, ESDC_AGENCY)
        self.assertEqual(response.from_agency, CRA_AGENCY)
        self.assertEqual(response.service, "services/1003")
        self.assertEqual(response.channel, types.CHANNEL_IN_PERSON)
        self.assertEqual(response.survey_channel, types.CHANNEL_ONLINE)
        self.assertEqual(response.standard, feedback.STANDARD_RESULT_MET)
        self.assertEqual(response.scores.satisfaction, 5)
        self.assertRegex(response.quarter, r"^\d{4}Q[1-4]$")
        self.state.update(response=response, rating_request_id=rid)
        replay = self.rate(rid)
        self.assertEqual(replay.name, response.name, "a retry answers the first response")

    def test_18_a_second_rating_of_the_same_leg_is_already_exists(self):
        self.assertRpcError(
            grpc.StatusCode.ALREADY_EXISTS,
            feedback_stub().RecordSatisfaction,
            feedback.RecordSatisfactionRequest(
                subject=self.state["leg"],
                scores=feedback.Scores(satisfaction=1, trust=1),
                request_id=request_id(),
            ),
            metadata=as_citizen(AMELIE),
            reason="ALREADY_EXISTS",
        )

    def test_19_esdcs_report_by_agency_pair_suppresses_the_lone_response_from_cra(self):
        report = feedback_stub().GetSatisfactionReport(
            feedback.GetSatisfactionReportRequest(grouping=feedback.REPORT_GROUPING_AGENCY_PAIR), metadata=esdc(), timeout=TIMEOUT
        )
        self.assertEqual(report.minimum_respondents, 10)
        self.assertFalse(report.unsuppressed)
        self.assertTrue(report.method)
        pair = [g for g in report.groups if g.key.from_agency == CRA_AGENCY and g.key.agency == ESDC_AGENCY]
        self.assertEqual(len(pair), 1, [g.key for g in report.groups])
        group = pair[0]
        self.assertEqual(group.suppression, feedback.SUPPRESSION_TOO_FEW_RESPONDENTS)
        self.assertEqual((group.ended, group.responses, group.surveys_offered), (0, 0, 0), "a suppressed group's figures are 0")

    def test_20_the_auditor_reads_the_same_group_unsuppressed_with_her_response_counted(self):
        before, after = self.state["pair_before"], self.pair_figures()
        self.assertEqual(after["suppression"], feedback.SUPPRESSION_UNSPECIFIED)
        delta = {k: after[k] - before[k] for k in ("ended", "surveys_offered", "responses", "with_standard", "answered")}
        self.assertEqual(
            delta,
            {"ended": 1, "surveys_offered": 1, "responses": 1, "with_standard": 1, "answered": 1},
            "her leg ended, was offered a survey and met its standard; her one response counts once",
        )
        self.assertEqual([a - b for a, b in zip(after["distribution"], before["distribution"])], [0, 0, 0, 0, 1])
        self.assertEqual(after["share_met_standard"], 1.0)

    def test_21_the_public_report_answers_without_a_credential_and_suppresses_the_row(self):
        quarter = self.state["response"].quarter
        report = feedback_stub().GetPublicReport(feedback.GetPublicReportRequest(quarter=quarter), timeout=TIMEOUT)
        self.assertEqual(report.quarter, quarter)
        self.assertRegex(report.fiscal_quarter, r"^\d{4}-\d{2} Q[1-4]$")
        self.assertEqual(report.minimum_respondents, 10)
        rows = [r for r in report.rows if r.service == "services/1003" and r.channel == types.CHANNEL_IN_PERSON]
        self.assertEqual(len(rows), 1, [(r.service, r.channel) for r in report.rows])
        row = rows[0]
        self.assertEqual(row.agency, ESDC_AGENCY)
        self.assertEqual(row.suppression, feedback.SUPPRESSION_TOO_FEW_RESPONDENTS)
        self.assertEqual((row.customers, row.respondents), (0, 0))


# --- 5. common forms: tell us once


class T5FormsTest(InteropCase):
    FORM = "forms/change-of-address"

    def prefilled(self):
        return forms_stub().PrefillForm(
            forms.PrefillFormRequest(name=self.FORM, citizen=AMELIE), metadata=as_citizen(AMELIE), timeout=TIMEOUT
        )

    # A street number of its own per run, so that the write-back changes the record even when the
    # suite runs again against the same server.
    STREET = f"{uuid.uuid4().int % 9000 + 100} rue des Carrières"

    def answers(self, moved_on, province, postal_code):
        kept = [a for a in self.prefilled().answers if a.field != "new_address"]
        for answer in kept:
            answer.ClearField("source")
        return kept + [
            forms.Answer(field="moved_on", text=moved_on),
            forms.Answer(field="mail_elsewhere", boolean=False),
            forms.Answer(
                field="new_address",
                address=citizens.Address(
                    line1=self.STREET, city="Québec", province=province, postal_code=postal_code
                ),
            ),
        ]

    def test_get_form_returns_the_published_bilingual_change_of_address_form_to_anyone(self):
        form = forms_stub().GetForm(forms.GetFormRequest(name=self.FORM), timeout=TIMEOUT)
        self.assertEqual(form.name, self.FORM + "/versions/1")
        self.assertEqual(form.state, forms.FORM_VERSION_STATE_PUBLISHED)
        self.assertTrue(form.title.en and form.title.fr)
        keys = [f.key for f in form.fields]
        self.assertIn("new_address", keys)
        self.assertIn("moved_on", keys)
        new_address = [f for f in form.fields if f.key == "new_address"][0]
        self.assertTrue(new_address.write_back)
        self.assertGreaterEqual(len({link.agency for link in form.linked}), 2, "shared by several agencies")

    def test_prefill_fills_her_answers_from_her_record_each_with_its_source(self):
        prefill = self.prefilled()
        self.assertEqual(prefill.form, self.FORM + "/versions/1")
        by_field = {a.field: a for a in prefill.answers}
        self.assertEqual(by_field["given_name"].text, "Amélie")
        self.assertEqual(by_field["email"].text, "amelie.tremblay@example.ca")
        self.assertEqual(by_field["email"].source.record_field, "contact.email")
        self.assertIn("new_address", by_field)
        self.assertEqual(list(prefill.withheld), [], "her own portal reads her whole record")

    def test_a_bad_submission_names_each_bad_answer_with_its_rule_in_french(self):
        details = self.assertRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            forms_stub().SubmitForm,
            forms.SubmitFormRequest(
                form_version=self.FORM + "/versions/1",
                citizen=AMELIE,
                service="services/1003",
                answers=self.answers("2099-01-01", "QC", "K1N 8S7"),
                request_id=request_id(),
            ),
            metadata=as_citizen(AMELIE, ("accept-language", "fr-CA")),
            reason="INVALID_ARGUMENT",
        )
        self.assertEqual(
            [(v.field, v.reason, v.localized_message.locale) for v in details.bad_request.field_violations],
            [("new_address", "POSTAL_CODE_PROVINCE", "fr-CA"), ("moved_on", "TOO_LATE", "fr-CA")],
        )
        for violation in details.bad_request.field_violations:
            self.assertTrue(violation.localized_message.message)

    def test_a_good_submission_writes_her_new_address_back_to_her_record_and_her_log(self):
        moved_on = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
        rid = request_id()
        call_id = "interop-submit-" + rid[:8]
        submit = forms.SubmitFormRequest(
            form_version=self.FORM + "/versions/1",
            citizen=AMELIE,
            service="services/1003",
            answers=self.answers(moved_on, "QC", "G1R 4P5"),
            request_id=rid,
        )
        submission = forms_stub().SubmitForm(
            submit, metadata=as_citizen(AMELIE, ("x-request-id", call_id)), timeout=TIMEOUT
        )
        self.assertRegex(submission.name, r"^forms/change-of-address/submissions/[^/]+$")
        self.assertEqual(submission.citizen, AMELIE)
        self.assertEqual(submission.recipient, ESDC_AGENCY)
        self.assertEqual(submission.channel, types.CHANNEL_ONLINE)
        outcomes = {w.field: w.outcome for w in submission.write_backs}
        self.assertEqual(outcomes.get("new_address"), forms.WRITE_BACK_OUTCOME_WRITTEN)
        self.assertEqual(outcomes.get("email"), forms.WRITE_BACK_OUTCOME_UNCHANGED)
        replay = forms_stub().SubmitForm(submit, metadata=as_citizen(AMELIE), timeout=TIMEOUT)
        self.assertEqual(replay.name, submission.name, "a retry returns the same submission")

        record = citizens_stub().GetCitizen(citizens.GetCitizenRequest(name=AMELIE), metadata=as_citizen(AMELIE), timeout=TIMEOUT)
        residential = [a for a in record.addresses if a.kind == citizens.ADDRESS_KIND_RESIDENTIAL]
        self.assertEqual([(a.line1, a.postal_code) for a in residential], [(self.STREET, "G1R 4P5")])

        log = list_all_events(AMELIE, as_citizen(AMELIE))
        actions = [e.action for e in log if e.request_id == call_id]
        self.assertIn(citizens.ACCESS_ACTION_SUBMIT_FORM, actions)
        self.assertIn(citizens.ACCESS_ACTION_WRITE_BACK, actions)


# --- 6. the access log, verified here


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves):
    """RFC 9162 section 2.1.1: MTH over leaf hashes, split at the largest power of two below n."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    proof = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the proof's start
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def code_of(enum, value, prefix):
    """`ACCESS_ACTION_GRANT_CONSENT` -> `grant-consent`, as the leaf writes codes."""
    name = enum.Name(value)
    assert name.startswith(prefix), name
    return name[len(prefix):].lower().replace("_", "-")


def expected_leaf(event):
    """The leaf text recomputed from the event's fields (AccessEvent.leaf's documented format)."""
    match = re.fullmatch(r"(citizens/[^/]+)/accessEvents/(\d+)", event.name)
    assert match, event.name
    clean = lambda s: "".join("?" if (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) else ch for ch in s)
    purpose = "" if event.purpose == 0 else code_of(citizens.ConsentPurpose, event.purpose, "CONSENT_PURPOSE_")
    categories = " ".join(code_of(citizens.ConsentCategory, c, "CONSENT_CATEGORY_") for c in sorted(event.categories))
    millis = event.time.seconds * 1000 + event.time.nanos // 1_000_000
    lines = [
        "single-window access event v1",
        f"citizen: {match.group(1)}",
        f"number: {match.group(2)}",
        f"actor: {clean(event.actor)}",
        f"officer: {clean(event.officer)}",
        f"representative: {event.representative}",
        f"action: {code_of(citizens.AccessAction, event.action, 'ACCESS_ACTION_')}",
        f"purpose: {purpose}",
        f"categories: {categories}",
        f"outcome: {code_of(citizens.AccessOutcome, event.outcome, 'ACCESS_OUTCOME_')}",
        f"time_unix_ms: {millis}",
        f"request_id: {clean(event.request_id)}",
    ]
    return "".join(line + "\n" for line in lines)


class SignedCheckpoint:
    """A C2SP tlog-checkpoint in a signed note, verified with an Ed25519 signed-note verifier key."""

    def __init__(self, note, verifier_key):
        name, key_id, blob = verifier_key.split("+", 2)
        key = base64.b64decode(blob)
        assert len(key) == 33 and key[0] == 0x01, "an Ed25519 signed-note key"
        computed_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
        assert computed_id.hex() == key_id, "the verifier key's id is SHA-256(name, newline, 0x01, key)[:4]"
        self.key_name, self.key_id = name, computed_id
        self.public_key = Ed25519PublicKey.from_public_bytes(key[1:])
        body, sep, signatures = note.partition("\n\n")
        assert sep, "a blank line before the signatures"
        self.body = body + "\n"
        self.signatures = [line for line in signatures.split("\n") if line]
        origin, size, root = self.body.split("\n")[:3]
        self.origin, self.size, self.root = origin, int(size), base64.b64decode(root)

    def signed(self, body=None):
        body = (self.body if body is None else body).encode()
        for line in self.signatures:
            if not line.startswith("\u2014 "):
                continue
            signer, _, blob = line[2:].partition(" ")
            raw = base64.b64decode(blob)
            if signer != self.key_name or len(raw) != 68 or raw[:4] != self.key_id:
                continue
            try:
                self.public_key.verify(raw[4:], body)
                return True
            except InvalidSignature:
                continue
        return False


def list_all_events(citizen, metadata, page_size=0, known_tree_size=0):
    """Every event of a citizen, page by page (the last page's response is returned too)."""
    events, pages = [], []
    token = ""
    while True:
        page = citizens_stub().ListAccessEvents(
            citizens.ListAccessEventsRequest(
                parent=citizen, page_size=page_size, page_token=token, known_tree_size=known_tree_size
            ),
            metadata=metadata,
            timeout=TIMEOUT,
        )
        pages.append(page)
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            break
    list_all_events.pages = pages
    return events


class T6AccessLogTest(InteropCase):
    @classmethod
    def setUpClass(cls):
        # Amélie lets CRA see her identity and address to assess eligibility; CRA reads them; IRCC,
        # with no consent, is denied. Each call names itself with its own x-request-id.
        cls.read_id = "interop-read-" + request_id()[:8]
        cls.denied_id = "interop-denied-" + request_id()[:8]
        citizens_stub().GrantConsent(
            citizens.GrantConsentRequest(
                parent=AMELIE,
                consent=citizens.Consent(
                    grantee=CRA_AGENCY,
                    purpose=citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT,
                    categories=[citizens.CONSENT_CATEGORY_IDENTITY, citizens.CONSENT_CATEGORY_ADDRESS],
                ),
            ),
            metadata=as_citizen(AMELIE),
            timeout=TIMEOUT,
        )
        cls.cra_view = citizens_stub().GetCitizen(
            citizens.GetCitizenRequest(name=AMELIE, purpose=citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT),
            metadata=cra(("x-request-id", cls.read_id)),
            timeout=TIMEOUT,
        )
        try:
            citizens_stub().GetCitizen(
                citizens.GetCitizenRequest(name=AMELIE, purpose=citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT),
                metadata=cic(("x-request-id", cls.denied_id)),
                timeout=TIMEOUT,
            )
            cls.denial = None
        except grpc.RpcError as error:
            cls.denial = error

    def read_log(self, **kwargs):
        events = list_all_events(AMELIE, as_citizen(AMELIE), **kwargs)
        return events, list_all_events.pages

    def test_the_granted_agency_read_only_the_granted_categories_and_another_was_denied(self):
        self.assertEqual(self.cra_view.identity.family_name, "Tremblay")
        self.assertFalse(self.cra_view.HasField("contact"))
        self.assertEqual(len(self.cra_view.identifiers), 0)
        self.assertEqual(
            list(self.cra_view.categories), [citizens.CONSENT_CATEGORY_IDENTITY, citizens.CONSENT_CATEGORY_ADDRESS]
        )
        self.assertIsNotNone(self.denial)
        self.assertEqual(self.denial.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_her_log_lists_the_read_and_the_denial_numbered_without_gaps(self):
        events, _ = self.read_log()
        numbers = [int(e.name.rsplit("/", 1)[1]) for e in events]
        self.assertEqual(numbers, list(range(1, len(events) + 1)))
        read = [e for e in events if e.request_id == self.read_id]
        self.assertEqual(len(read), 1)
        self.assertEqual(read[0].actor, "agencies/cra-arc/teams/benefits-credits")
        self.assertEqual(read[0].action, citizens.ACCESS_ACTION_READ)
        self.assertEqual(read[0].purpose, citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT)
        self.assertEqual(list(read[0].categories), [citizens.CONSENT_CATEGORY_IDENTITY, citizens.CONSENT_CATEGORY_ADDRESS])
        self.assertEqual(read[0].outcome, citizens.ACCESS_OUTCOME_ALLOWED)
        denied = [e for e in events if e.request_id == self.denied_id]
        self.assertEqual(len(denied), 1)
        self.assertEqual(denied[0].actor, "agencies/cic/teams/passports")
        self.assertEqual(denied[0].outcome, citizens.ACCESS_OUTCOME_DENIED)
        self.assertEqual(events[-1].action, citizens.ACCESS_ACTION_LIST_ACCESS_EVENTS, "the listing itself is logged first")

    def test_every_leaf_is_the_text_of_its_events_fields(self):
        events, _ = self.read_log()
        for event in events:
            with self.subTest(event=event.name):
                self.assertEqual(event.leaf, expected_leaf(event))

    def test_the_checkpoint_is_signed_by_the_published_key(self):
        _, pages = self.read_log()
        page = pages[-1]
        self.assertEqual(page.verifier_key, os.environ["SW_VERIFIER_KEY"], "the key in the answer is the one published out of band")
        checkpoint = SignedCheckpoint(page.checkpoint, os.environ["SW_VERIFIER_KEY"])
        self.assertEqual(checkpoint.origin, "single-window.localhost/access-log")
        self.assertEqual(checkpoint.key_name, checkpoint.origin)
        self.assertTrue(checkpoint.signed(), "the Ed25519 signature verifies over the checkpoint body")
        self.assertEqual(len(checkpoint.root), 32)
        self.assertGreater(checkpoint.size, 0)
        tampered = checkpoint.body.replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n")
        self.assertFalse(checkpoint.signed(tampered), "a checkpoint of another size does not verify")

    def test_every_event_has_an_inclusion_proof_to_the_signed_root_and_an_altered_event_fails(self):
        events, pages = self.read_log(page_size=4)
        self.assertGreater(len(pages), 1, "several pages")
        proven = 0
        for page in pages:
            checkpoint = SignedCheckpoint(page.checkpoint, os.environ["SW_VERIFIER_KEY"])
            self.assertTrue(checkpoint.signed())
            for event in page.events:
                with self.subTest(event=event.name):
                    self.assertTrue(event.HasField("leaf_index"))
                    self.assertLess(event.leaf_index, checkpoint.size)
                    leaf = leaf_hash(event.leaf.encode("utf-8"))
                    proof = list(event.inclusion_proof)
                    self.assertTrue(verify_inclusion(event.leaf_index, checkpoint.size, leaf, proof, checkpoint.root))
                    altered = leaf_hash(event.leaf.replace("\nactor: ", "\nactor: x", 1).encode("utf-8"))
                    self.assertFalse(verify_inclusion(event.leaf_index, checkpoint.size, altered, proof, checkpoint.root))
                    proven += 1
        self.assertEqual(proven, len(events))

    def test_a_consistency_proof_shows_the_log_only_grew_since_a_kept_checkpoint(self):
        _, pages = self.read_log()
        kept = SignedCheckpoint(pages[-1].checkpoint, os.environ["SW_VERIFIER_KEY"])
        # More accesses after the kept checkpoint: CRA reads again.
        citizens_stub().GetCitizen(
            citizens.GetCitizenRequest(name=AMELIE, purpose=citizens.CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT),
            metadata=cra(),
            timeout=TIMEOUT,
        )
        _, pages = self.read_log(known_tree_size=kept.size)
        now = SignedCheckpoint(pages[-1].checkpoint, os.environ["SW_VERIFIER_KEY"])
        self.assertTrue(now.signed())
        self.assertGreater(now.size, kept.size)
        proof = list(pages[-1].consistency_proof)
        self.assertGreater(len(proof), 0)
        self.assertTrue(verify_consistency(kept.size, now.size, kept.root, now.root, proof))
        forged = hashlib.sha256(b"a rewritten history").digest()
        self.assertFalse(verify_consistency(kept.size, now.size, forged, now.root, proof))

    def test_a_known_tree_size_beyond_the_latest_checkpoint_is_invalid_argument(self):
        details = self.assertRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            citizens_stub().ListAccessEvents,
            citizens.ListAccessEventsRequest(parent=AMELIE, known_tree_size=10**9),
            metadata=as_citizen(AMELIE),
            reason="INVALID_ARGUMENT",
        )
        self.assertEqual([field for field, _ in details.violations()], ["known_tree_size"])

    def test_the_auditor_rebuilds_the_whole_tree_from_every_citizens_leaves_and_gets_the_signed_root(self):
        leaves = {}
        last = None
        for citizen in KNOWN_CITIZENS:
            for event in list_all_events(citizen, auditor(), page_size=500):
                self.assertTrue(event.HasField("leaf_index"))
                self.assertEqual(event.leaf, expected_leaf(event))
                self.assertNotIn(event.leaf_index, leaves, "one event per leaf")
                leaves[event.leaf_index] = leaf_hash(event.leaf.encode("utf-8"))
            last = list_all_events.pages[-1]
        self.assertIn(
            citizens.ACCESS_ACTION_LIST_ACCESS_EVENTS,
            [e.action for e in list_all_events.pages[-1].events if e.actor == "auditors/demo-auditor"],
        )
        checkpoint = SignedCheckpoint(last.checkpoint, os.environ["SW_VERIFIER_KEY"])
        self.assertTrue(checkpoint.signed())
        self.assertEqual(
            sorted(i for i in leaves if i < checkpoint.size),
            list(range(checkpoint.size)),
            "every leaf of the signed tree is an event of a known citizen",
        )
        self.assertEqual(merkle_root([leaves[i] for i in range(checkpoint.size)]), checkpoint.root)


class T0MerkleSelfTest(unittest.TestCase):
    """The suite's own RFC 9162 code against the reference vectors (as src/audit/merkle.rs)."""

    LEAVES = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]

    def test_roots_match_the_rfc_6962_reference_vectors(self):
        leaves = [leaf_hash(l) for l in self.LEAVES]
        self.assertEqual(merkle_root([]).hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertEqual(merkle_root(leaves[:1]).hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        self.assertEqual(merkle_root(leaves).hex(), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


if __name__ == "__main__":
    unittest.main(verbosity=2)
