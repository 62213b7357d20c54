# The integration guide's section 4 curl examples, verbatim (shared/spec/002_ef08abc3b94df385.txt).
# guide_curl.spec.ts runs each block through bash against `ctp up` and checks this copy against the guide.
### Issue
curl -s http://127.0.0.1:8000/issue -H "Content-Type: application/json" -d '{
  "ts":"2025-11-09T20:17:00Z",
  "channel":"voice",
  "features":["tone","sentiment"],
  "processor":"svc://cx-ai/v1",
  "purpose":"customer_retention",
  "retention":"session_only",
  "jurisdiction":"US-KY",
  "ui_copy_id":"consent-modal-2025-11-01#en-US"
}'
### Introspect
TOKEN="eyJhbGciOi..."
curl -s http://127.0.0.1:8000/introspect -H "Content-Type: application/json" -d "{
  "token": "$TOKEN",
  "context_envelope": {
    "ts":"2025-11-09T20:17:00Z",
    "channel":"voice",
    "features":["tone","sentiment"],
    "processor":"svc://cx-ai/v1",
    "purpose":"customer_retention",
    "retention":"session_only",
    "jurisdiction":"US-KY",
    "ui_copy_id":"consent-modal-2025-11-01#en-US"
  }
}"
### Revoke
curl -s http://127.0.0.1:8000/revoke -H "Content-Type: application/json"   -d '{"jti":"c0b3e1f8-4567-4890-abcd-1234567890ab","reason":"user_revoked"}'
