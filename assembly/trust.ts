// Whom the filter believes. Its own headers (entry, hop and pod stamps) and Knative's
// `K-Proxy-Request` change what it records, so they are honoured only from peers that prove they
// are in the mesh: a certificate whose URI SAN is a SPIFFE id of a configured trust domain.
// `connection.mtls` alone proves nothing: an ingress gateway with mutual TLS toward outside
// clients accepts certificates from a client CA, which can put any URI SAN in them, so a gateway
// trusts only its mesh-facing listener ports (Knative's knative-local-gateway). Pure: the glue
// reads the peer's URI SAN and the port and asks here.

import { splitAt } from "./text";

/** Knative runs the activator (with the autoscaler and the controller) as this service account. */
export const ACTIVATOR_NAMESPACE = "knative-serving";
export const ACTIVATOR_SERVICE_ACCOUNT = "controller";

const SPIFFE_SCHEME = "spiffe://";

/** An Istio workload identity: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export class MeshIdentity {
  constructor(
    public readonly trustDomain: string,
    public readonly namespace: string,
    public readonly serviceAccount: string,
  ) {}

  get isActivator(): bool {
    return this.namespace == ACTIVATOR_NAMESPACE && this.serviceAccount == ACTIVATOR_SERVICE_ACCOUNT;
  }
}

/** A path segment of a SPIFFE id: non-empty, of the characters SPIFFE allows (a-z A-Z 0-9 . - _). */
function isSegment(text: string): bool {
  if (text.length == 0 || text == "." || text == "..") return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c == 0x2e ||
      c == 0x2d ||
      c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

/**
 * The mesh identity in a peer certificate's URI SAN, when it is an Istio workload id of one of
 * `trustDomains`; null for anything else (absent, another scheme, another trust domain, another
 * path shape, a query or fragment).
 */
export function meshIdentityOf(uriSan: string | null, trustDomains: string[]): MeshIdentity | null {
  if (uriSan == null || !uriSan.startsWith(SPIFFE_SCHEME)) return null;
  const rest = uriSan.substring(SPIFFE_SCHEME.length);
  const parts = splitAt(rest, 0x2f); // /
  if (parts.length != 5) return null;
  const trustDomain = unchecked(parts[0]);
  if (!trustDomains.includes(trustDomain)) return null;
  if (unchecked(parts[1]) != "ns" || unchecked(parts[3]) != "sa") return null;
  const namespace = unchecked(parts[2]);
  const serviceAccount = unchecked(parts[4]);
  if (!isSegment(namespace) || !isSegment(serviceAccount)) return null;
  return new MeshIdentity(trustDomain, namespace, serviceAccount);
}

/** Whether a gateway listener on `port` (destination.port; -1 unknown) faces the mesh. */
export function facesMesh(port: i64, meshGatewayPorts: i32[]): bool {
  for (let i = 0; i < meshGatewayPorts.length; i++) {
    if (<i64>unchecked(meshGatewayPorts[i]) == port) return true;
  }
  return false;
}

/** What a request marked `K-Proxy-Request: activator` proves about its sender. */
export enum ActivatorProof {
  /** From the activator's mesh identity, on a serving port: it did come through the activator. */
  Activator,
  /**
   * From a peer without any certificate identity (the activator's namespace has no sidecar, so it
   * connects in plaintext under PERMISSIVE): it may be the activator, but nothing shows it.
   */
  Unverifiable,
  /** From a peer with another identity: someone else set the header. */
  Forged,
}

/**
 * Judges a `K-Proxy-Request: activator` header at a revision pod's inbound sidecar from what is
 * known of the peer: a URI SAN at all, and the mesh identity in it. The caller has already checked
 * the request is on a serving port (which the autoscaler's scrapes, sent with the same identity,
 * are not).
 */
export function activatorProofOf(hasUriSan: bool, identity: MeshIdentity | null): ActivatorProof {
  if (!hasUriSan) return ActivatorProof.Unverifiable;
  return identity != null && identity.isActivator ? ActivatorProof.Activator : ActivatorProof.Forged;
}
