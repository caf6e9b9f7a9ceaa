# Makes vector-python.json independently of the Go code: python3 vector.py > vector-python.json
import base64, json
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
server_scalar = bytes.fromhex("1f" * 31 + "a1")
eph_scalar = bytes.fromhex("2e" * 31 + "07")
server = ec.derive_private_key(int.from_bytes(server_scalar, "big"), ec.SECP256R1())
eph = ec.derive_private_key(int.from_bytes(eph_scalar, "big"), ec.SECP256R1())
kid = "web-key-2026"
iv = bytes(range(1, 13))
plain = json.dumps({"token": "WEB_TOKEN", "event_id": "0b7d7a1e-3b6a-4b8e-9c52-5d0c7f1f2a11", "event_type": "custom",
    "event_name": "signup", "event_data": "{\"plan\":\"pro\"}", "visitor_id": "v-1"}, separators=(",", ":")).encode()
shared = eph.exchange(ec.ECDH(), server.public_key())
key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=("linkrunner-web-collect-v1:" + kid).encode()).derive(shared)
ct = AESGCM(key).encrypt(iv, plain, None)
pt = lambda k: k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
out = {
  "comment": "Computed with Python cryptography (ECDH P-256, HKDF-SHA256 salt empty, AES-256-GCM), independently of the Go code.",
  "server_private_key": b64u(server_scalar),
  "server_public_key": b64u(pt(server)),
  "ephemeral_private_key": b64u(eph_scalar),
  "key_id": kid,
  "plaintext": plain.decode(),
  "envelope": {"lrv": 1, "kid": kid, "epk": b64u(pt(eph)), "iv": b64u(iv), "ct": b64u(ct)},
}
print(json.dumps(out, indent=2))
