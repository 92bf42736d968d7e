#!/usr/bin/env python3
"""Get a Writ token with nothing but PyJWT and requests: the protocol is plain OAuth.

    WRIT_ISSUER=http://localhost:8787 python3 get_token.py support-bot crm.customers.read "look up ticket SUP-42"
    python3 get_token.py support-bot crm.customers.export "export for SUP-7"        # refused: prints the rule and request id
    python3 get_token.py billing-agent billing.invoices.refund "refund INV-42" --wait  # waits for two approvers
    python3 get_token.py support-bot crm.customers.export "export for SUP-7" --context '{"ticket": "SUP-7"}' --wait

Steps: discovery (RFC 8414), a private_key_jwt client assertion (RFC 7523) signed with the agent's registered key,
token exchange (RFC 8693) for one use case and, with --wait, a human approval (OpenID CIBA, poll mode).
The key comes from WRIT_AGENT_KEYS: a private JWK, or a JSON object of agent id -> JWK (the demo file
policy/demo-agent-keys.json, whose keys are public and must never be registered anywhere real).
"""

import json
import os
import sys
import time
import uuid

import jwt  # PyJWT, with the cryptography package for ES256 / EdDSA
import requests

ISSUER = os.environ.get("WRIT_ISSUER", "http://localhost:8787")
KEYS_FILE = os.environ.get("WRIT_AGENT_KEYS", os.path.join(os.path.dirname(__file__), "../../policy/demo-agent-keys.json"))


def load_key(agent_id):
    """The agent's private JWK, and the algorithm and key object PyJWT signs with."""
    with open(KEYS_FILE, encoding="utf-8") as file:
        keys = json.load(file)
    jwk = keys if "kty" in keys else keys[agent_id]
    if jwk["kty"] == "EC":
        return jwk, "ES256", jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
    return jwk, "EdDSA", jwt.algorithms.OKPAlgorithm.from_jwk(json.dumps(jwk))


def discover():
    """RFC 8414: the broker's metadata. Its issuer must be exactly the one we sign for (section 3.3)."""
    response = requests.get(f"{ISSUER.rstrip('/')}/.well-known/oauth-authorization-server", timeout=10)
    if response.status_code != 200:
        sys.exit(f"no broker metadata at {response.url} (HTTP {response.status_code}): is WRIT_ISSUER the broker's issuer URL?")
    metadata = response.json()
    if metadata["issuer"] != ISSUER:
        sys.exit(f'the broker calls itself "{metadata["issuer"]}": set WRIT_ISSUER to exactly that')
    return metadata


def client_assertion(agent_id, key):
    """RFC 7523 section 3: iss = sub = agent id, aud = the issuer (one string), one minute, a unique jti."""
    jwk, alg, private_key = key
    now = int(time.time())
    claims = {"iss": agent_id, "sub": agent_id, "aud": ISSUER, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": jwk["kid"]})


def client_auth(agent_id, key):
    return {
        "client_id": agent_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(agent_id, key),
    }


def refused(response):
    """An RFC 6749 section 5.2 refusal, with the broker's request id an admin can look up."""
    body = response.json()
    print(f"refused ({response.status_code}): {body.get('error')}: {body.get('error_description')}", file=sys.stderr)
    print(f"request id: {response.headers.get('X-Request-Id')}", file=sys.stderr)
    if "Retry-After" in response.headers:
        print(f"retry after: {response.headers['Retry-After']} s", file=sys.stderr)
    sys.exit(1)


def wait_for_approval(metadata, agent_id, key, use_case_params):
    """OpenID CIBA: start the approval, then poll every `interval` seconds (5 more after slow_down)."""
    started = requests.post(metadata["backchannel_authentication_endpoint"], data={**client_auth(agent_id, key), **use_case_params}, timeout=10)
    if not started.ok:
        refused(started)
    request = started.json()
    interval = request.get("interval", 5)
    print(f"approval requested; approvers were emailed (locally: /dev/outbox). Waiting up to {request['expires_in']} s", file=sys.stderr)
    while True:
        time.sleep(interval)
        poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": request["auth_req_id"], **client_auth(agent_id, key)}
        response = requests.post(metadata["token_endpoint"], data=poll, timeout=10)
        error = None if response.ok else response.json().get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            return response


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    agent_id, use_case = sys.argv[1], sys.argv[2]
    intent = sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("--") else None
    context = sys.argv[sys.argv.index("--context") + 1] if "--context" in sys.argv else None
    key = load_key(agent_id)
    metadata = discover()

    use_case_params = {"scope": use_case, **({"intent": intent} if intent else {}), **({"context": context} if context else {})}
    assertion = client_assertion(agent_id, key)
    # Token exchange: the agent authenticates with its assertion and presents the same JWT as the subject.
    response = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_id": agent_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "subject_token": assertion,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            **use_case_params,
        },
        timeout=10,
    )
    if not response.ok and response.json().get("error") == "approval_required" and "--wait" in sys.argv:
        response = wait_for_approval(metadata, agent_id, key, use_case_params)
    if not response.ok:
        refused(response)
    token = response.json()
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})  # the service verifies; we only show it
    print(json.dumps({"expires_in": token["expires_in"], "scope": token["scope"], "claims": claims}, indent=2))


if __name__ == "__main__":
    main()
