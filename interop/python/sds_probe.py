"""Acts like Envoy against an SDS v3 endpoint, with the xds-protos stubs.

Usage: python sds_probe.py /path/to/api.sock NAME [NAME...]

Fetches the named secrets once with FetchSecrets, then opens StreamSecrets for the
same names, reads the first response and ACKs it. Prints one JSON object describing
what came back. Exits non-zero on any failure.
"""

import json
import queue
import sys

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_spiffe_validator_config_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc
from envoy.type.v3 import semantic_version_pb2

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def node():
    return base_pb2.Node(
        id="sds-probe",
        cluster="interop",
        user_agent_name="envoy",
        user_agent_build_version=base_pb2.BuildVersion(
            version=semantic_version_pb2.SemanticVersion(major_number=1, minor_number=30)),
    )


def describe(response):
    secrets = []
    for resource in response.resources:
        secret = secret_pb2.Secret()
        if not resource.Unpack(secret):
            raise SystemExit("resource is not a Secret: " + resource.type_url)
        entry = {"name": secret.name, "type": secret.WhichOneof("type")}
        if entry["type"] == "tls_certificate":
            chain = secret.tls_certificate.certificate_chain.inline_bytes.decode()
            key = secret.tls_certificate.private_key.inline_bytes.decode()
            entry["certificates"] = chain.count("BEGIN CERTIFICATE")
            entry["pkcs8_key"] = key.startswith("-----BEGIN PRIVATE KEY-----")
        elif entry["type"] == "validation_context":
            context = secret.validation_context
            if context.HasField("custom_validator_config"):
                config = tls_spiffe_validator_config_pb2.SPIFFECertValidatorConfig()
                context.custom_validator_config.typed_config.Unpack(config)
                entry["validator"] = context.custom_validator_config.name
                entry["trust_domains"] = [td.name for td in config.trust_domains]
            else:
                entry["trusted_ca"] = context.trusted_ca.inline_bytes.decode().count(
                    "BEGIN CERTIFICATE")
        secrets.append(entry)
    return {"version_info": response.version_info, "nonce": response.nonce, "secrets": secrets}


def main():
    socket, names = sys.argv[1], sys.argv[2:]
    with grpc.insecure_channel("unix:" + socket) as channel:
        stub = sds_pb2_grpc.SecretDiscoveryServiceStub(channel)
        request = discovery_pb2.DiscoveryRequest(
            node=node(), resource_names=names, type_url=SECRET_TYPE)
        fetched = stub.FetchSecrets(request, timeout=20)

        outgoing = queue.Queue()
        outgoing.put(request)
        stream = stub.StreamSecrets(iter(outgoing.get, None), timeout=20)
        streamed = next(stream)
        # ACK as Envoy does, then hang up.
        outgoing.put(discovery_pb2.DiscoveryRequest(
            version_info=streamed.version_info, response_nonce=streamed.nonce,
            resource_names=names, type_url=SECRET_TYPE))
        outgoing.put(None)
        stream.cancel()

    print(json.dumps({"fetched": describe(fetched), "streamed": describe(streamed)}))


if __name__ == "__main__":
    main()
