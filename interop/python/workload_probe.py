"""Exercises a SPIFFE Workload API endpoint with py-spiffe, as Python workloads use it.

Usage: python workload_probe.py unix:///path/to/api.sock AUDIENCE

Prints one JSON object: the X.509-SVIDs, bundles, JWT-SVID subject, and the SPIFFE ID
the endpoint returned when validating that JWT-SVID. Exits non-zero on any failure.
"""

import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from spiffe import JwtSvid, WorkloadApiClient


def verify_signed_by(cert, issuers):
    """True when one of `issuers` signed `cert` (ECDSA or RSA PKCS#1 v1.5)."""
    for issuer in issuers:
        key = issuer.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(cert.signature, cert.tbs_certificate_bytes,
                           ec.ECDSA(cert.signature_hash_algorithm))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(cert.signature, cert.tbs_certificate_bytes,
                           padding.PKCS1v15(), cert.signature_hash_algorithm)
            else:
                continue
            return True
        except Exception:  # noqa: BLE001 - a failed check is just "not this issuer"
            continue
    return False


def main():
    endpoint, audience = sys.argv[1], sys.argv[2]
    with WorkloadApiClient(socket_path=endpoint, default_timeout=20) as client:
        context = client.fetch_x509_context()
        svids = client.fetch_x509_svids()
        x509_bundles = client.fetch_x509_bundles()
        jwt_bundles = client.fetch_jwt_bundles()
        jwt_svid = client.fetch_jwt_svid(audience={audience})
        validated = client.validate_jwt_svid(jwt_svid.token, audience)

        default = context.default_svid
        bundle = x509_bundles.get_bundle_for_trust_domain(default.spiffe_id.trust_domain)
        chain = default.cert_chain
        issuers = list(bundle.x509_authorities) + chain[1:]
        if not verify_signed_by(chain[-1], issuers) and not verify_signed_by(chain[0], issuers):
            raise SystemExit("default svid is not signed by the bundle")

        jwt_bundle = jwt_bundles.get_bundle_for_trust_domain(jwt_svid.spiffe_id.trust_domain)
        local = JwtSvid.parse_and_validate(jwt_svid.token, jwt_bundle, {audience})

        print(json.dumps({
            "default_svid": str(default.spiffe_id),
            "svids": [str(s.spiffe_id) for s in svids],
            "x509_bundles": sorted(str(b.trust_domain) for b in x509_bundles.bundles),
            "jwt_bundles": sorted(str(b.trust_domain) for b in jwt_bundles.bundles),
            "jwt_subject": str(jwt_svid.spiffe_id),
            "validated_by_api": str(validated.spiffe_id),
            "validated_locally": str(local.spiffe_id),
        }))


if __name__ == "__main__":
    main()
