// Whether a request's destination is inside the mesh, decided at request headers from what Envoy
// knows then. Pure: the glue reads the cluster name and `:authority`.
//
// Envoy resolves the route before the HTTP filters run (the connection manager's
// refreshCachedRoute, from decodeHeaders), so at request headers a STATS-phase filter can read the
// route's cluster: `xds.cluster_name` (upstreamClusterInfo) from Envoy 1.30, `cluster_name` (the
// route entry's cluster) before. The upstream host, its metadata and its certificate are known
// only once the router picked and connected to one, after every request-header callback. Istio
// names its clusters `outbound|<port>|<subset>|<host>` and `inbound|<port>||`: a Kubernetes
// service host ends in `.svc.<cluster domain>`; a ServiceEntry host or PassthroughCluster does
// not. `:authority` is the fallback for proxies without Istio's cluster names, and at a gateway
// it is the public host, so there the route alone decides.

import { splitAt } from "./text";

const OUTBOUND = "outbound|";
const INBOUND = "inbound|";

/** The host of an Istio cluster name `outbound|<port>|<subset>|<host>`, or null. */
function outboundHost(clusterName: string): string | null {
  if (!clusterName.startsWith(OUTBOUND)) return null;
  const parts = splitAt(clusterName, 0x7c); // |
  return parts.length == 4 ? unchecked(parts[3]) : null;
}

function endsWithServiceDomain(host: string, meshDomains: string[]): bool {
  for (let i = 0; i < meshDomains.length; i++) {
    if (host.endsWith(".svc." + unchecked(meshDomains[i]))) return true;
  }
  return false;
}

/** ASCII lower case (String.toLowerCase would bring Unicode case tables into the module). */
function asciiLower(text: string): string {
  let out = text;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      out = "";
      for (let j = 0; j < text.length; j++) {
        const d = text.charCodeAt(j);
        out += String.fromCharCode(d >= 0x41 && d <= 0x5a ? d + 0x20 : d);
      }
      break;
    }
  }
  return out;
}

/** `:authority` without a port (and without the brackets of an IPv6 literal). */
function hostOf(authority: string): string {
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    return close > 0 ? authority.substring(1, close) : authority;
  }
  const colon = authority.lastIndexOf(":");
  return colon >= 0 ? authority.substring(0, colon) : authority;
}

/**
 * Whether an Istio cluster name is an in-mesh destination: a Kubernetes service of one of
 * `meshDomains`, or an inbound cluster (this pod's own workload).
 */
export function clusterInMesh(clusterName: string, meshDomains: string[]): bool {
  if (clusterName.startsWith(INBOUND)) return true;
  const host = outboundHost(clusterName);
  return host != null && endsWithServiceDomain(asciiLower(host), meshDomains);
}

/**
 * The fallback without a cluster name: a Kubernetes short name (`hello`), `<service>.<ns>.svc`, or
 * `...svc.<domain>`. Two labels (`hello.default`) cannot be told from a public name and count as
 * outside: losing a hop measurement costs less than sending internal names away.
 */
export function authorityInMesh(authority: string | null, meshDomains: string[]): bool {
  if (authority == null) return false;
  const host = asciiLower(hostOf(authority));
  if (host.length == 0) return false;
  if (host.indexOf(".") < 0 && host.indexOf(":") < 0) return true;
  if (host.endsWith(".svc")) return true;
  return endsWithServiceDomain(host, meshDomains);
}

/**
 * Whether the filter's own headers may go to this request's destination. `atGateway`: without a
 * cluster name the gateway's routes (Knative's) lead into the mesh, and its `:authority` is public.
 */
export function destinationInMesh(
  clusterName: string | null,
  authority: string | null,
  meshDomains: string[],
  atGateway: bool,
): bool {
  if (clusterName != null && clusterName.length > 0) return clusterInMesh(clusterName, meshDomains);
  return atGateway || authorityInMesh(authority, meshDomains);
}
