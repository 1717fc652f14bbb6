// Who this proxy is and where it sits, from values the glue read once from Envoy's node metadata,
// locality and listener. Pure: no host calls.

import { RoleSetting, Settings } from "./config";
import { sanitizeLabelValue } from "./labels";
import { ColdText, coldText } from "./generated/cold-text";

export enum ProxyType {
  Unknown,
  Sidecar,
  Router,
}

/** Istio's node id is `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`. */
export function proxyTypeOf(nodeId: string | null): ProxyType {
  if (nodeId == null) return ProxyType.Unknown;
  if (nodeId.startsWith(coldText(ColdText.RouterNodeId))) return ProxyType.Router;
  if (nodeId.startsWith(coldText(ColdText.SidecarNodeId))) return ProxyType.Sidecar;
  return ProxyType.Unknown;
}

/** Envoy's listener direction (`listener_direction`): 1 inbound, 2 outbound, else unspecified. */
export const DIRECTION_INBOUND: i64 = 1;
export const DIRECTION_OUTBOUND: i64 = 2;

export enum Position {
  /** Nothing to do here (e.g. a sidecar listener of unknown direction). */
  None,
  /** A gateway: where requests enter the mesh. */
  Gateway,
  /** A sidecar's inbound listener: in front of the workload (the revision pod). */
  Inbound,
  /** A sidecar's outbound listener: the caller side. */
  Outbound,
}

/** The `position` label value (`none` for Position.None). */
export function positionName(position: Position): string {
  if (position == Position.Gateway) return coldText(ColdText.PositionGateway);
  if (position == Position.Inbound) return coldText(ColdText.PositionInbound);
  if (position == Position.Outbound) return coldText(ColdText.PositionOutbound);
  return "none";
}

/** Where this plugin instance runs; `role` from the configuration overrides the node id. */
export function positionOf(role: RoleSetting, proxyType: ProxyType, direction: i64): Position {
  if (role == RoleSetting.Gateway) return Position.Gateway;
  if (role == RoleSetting.Auto && proxyType == ProxyType.Router) return Position.Gateway;
  if (direction == DIRECTION_INBOUND) return Position.Inbound;
  if (direction == DIRECTION_OUTBOUND) return Position.Outbound;
  return Position.None;
}

/** Raw values as Envoy reported them; null when a property was absent. */
export class NodeFacts {
  nodeId: string | null = null;
  cluster: string | null = null;
  region: string | null = null;
  namespace: string | null = null;
  revision: string | null = null;
  service: string | null = null;
  configuration: string | null = null;
}

/** This proxy's labels, already label values (sanitised); empty when unknown. */
export class Identity {
  constructor(
    public readonly cluster: string,
    public readonly region: string,
    public readonly namespace: string,
    public readonly service: string,
    public readonly configuration: string,
    public readonly revision: string,
  ) {}

  /** A Knative revision pod (it carries `serving.knative.dev/revision`). */
  get isRevision(): bool {
    return this.revision.length > 0;
  }
}

/** The namespace in the node id's last part (`<namespace>.svc.cluster.local`), or "". */
export function namespaceFromNodeId(nodeId: string | null): string {
  if (nodeId == null) return "";
  const last = nodeId.lastIndexOf("~");
  if (last < 0) return "";
  const domain = nodeId.substring(last + 1);
  const dot = domain.indexOf(".");
  return dot > 0 ? domain.substring(0, dot) : "";
}

function labelOrEmpty(value: string | null): string {
  return value != null ? sanitizeLabelValue(value) : "";
}

/** Combines what the node reports with the configuration's `cluster` / `region` overrides. */
export function resolveIdentity(facts: NodeFacts, settings: Settings): Identity {
  const cluster = settings.cluster.length > 0 ? settings.cluster : labelOrEmpty(facts.cluster);
  const region = settings.region.length > 0 ? settings.region : labelOrEmpty(facts.region);
  const namespace =
    facts.namespace != null ? labelOrEmpty(facts.namespace) : namespaceFromNodeId(facts.nodeId);
  return new Identity(
    cluster,
    region,
    sanitizeLabelValue(namespace),
    labelOrEmpty(facts.service),
    labelOrEmpty(facts.configuration),
    labelOrEmpty(facts.revision),
  );
}
