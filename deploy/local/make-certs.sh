#!/bin/sh
# Makes a throw-away CA and the two local Envoys' certificates (mutual TLS between them, as between
# Istio sidecars) in the given directory (default: certs/ next to this script). Needs openssl.
set -eu
dir="${1:-$(dirname "$0")/certs}"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=kwt-local-ca" \
  -keyout ca.key -out ca.crt 2>/dev/null
for name in east west; do
  host="envoy-$name"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$host" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm "$name.csr" "$name.ext"
done
# Envoy in the container runs as a non-root user: the keys must be readable by it.
chmod 644 ./*.key
echo "certificates in $dir"
