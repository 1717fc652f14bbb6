import { RoleSetting, parseSettings, defaultSettings } from "../config";
import {
  NodeFacts,
  Position,
  ProxyType,
  namespaceFromNodeId,
  positionOf,
  proxyTypeOf,
  resolveIdentity,
} from "../identity";

describe("proxyTypeOf / positionOf", () => {
  it("reads the proxy type from Istio's node id", () => {
    expect<ProxyType>(proxyTypeOf("router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local")).toBe(
      ProxyType.Router,
    );
    expect<ProxyType>(proxyTypeOf("sidecar~10.0.0.1~p.ns~ns.svc.cluster.local")).toBe(ProxyType.Sidecar);
    expect<ProxyType>(proxyTypeOf("waypoint~x")).toBe(ProxyType.Unknown);
    expect<ProxyType>(proxyTypeOf(null)).toBe(ProxyType.Unknown);
  });

  it("places gateways by node id and sidecars by listener direction", () => {
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Router, 2)).toBe(Position.Gateway);
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Router, 0)).toBe(Position.Gateway);
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Sidecar, 1)).toBe(Position.Inbound);
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Sidecar, 2)).toBe(Position.Outbound);
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Sidecar, 0)).toBe(Position.None);
    expect<Position>(positionOf(RoleSetting.Auto, ProxyType.Unknown, 1)).toBe(Position.Inbound);
  });

  it("lets the configured role override the node id", () => {
    expect<Position>(positionOf(RoleSetting.Gateway, ProxyType.Sidecar, 1)).toBe(Position.Gateway);
    expect<Position>(positionOf(RoleSetting.Sidecar, ProxyType.Router, 2)).toBe(Position.Outbound);
    expect<Position>(positionOf(RoleSetting.Sidecar, ProxyType.Router, 1)).toBe(Position.Inbound);
  });
});

describe("resolveIdentity", () => {
  it("takes labels and metadata from the node, sanitised", () => {
    const facts = new NodeFacts();
    facts.nodeId = "sidecar~10.0.0.1~hello-00001-deployment-abc.demo~demo.svc.cluster.local";
    facts.cluster = "Kubernetes";
    facts.region = "eu-west1";
    facts.namespace = "demo";
    facts.revision = "hello-00001";
    facts.service = "hello";
    facts.configuration = "hello;x";
    const id = resolveIdentity(facts, defaultSettings());
    expect<string>(id.cluster).toBe("Kubernetes");
    expect<string>(id.region).toBe("eu-west1");
    expect<string>(id.namespace).toBe("demo");
    expect<string>(id.revision).toBe("hello-00001");
    expect<string>(id.service).toBe("hello");
    expect<string>(id.configuration).toBe("hello_x");
    expect<bool>(id.isRevision).toBe(true);
  });

  it("lets configuration override cluster and region", () => {
    const facts = new NodeFacts();
    facts.cluster = "Kubernetes";
    facts.region = "";
    const id = resolveIdentity(facts, parseSettings('{"cluster":"prod-1","region":"us-east1"}').settings!);
    expect<string>(id.cluster).toBe("prod-1");
    expect<string>(id.region).toBe("us-east1");
  });

  it("leaves revision labels empty for workloads that are not Knative revisions", () => {
    const facts = new NodeFacts();
    facts.nodeId = "sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local";
    const id = resolveIdentity(facts, defaultSettings());
    expect<bool>(id.isRevision).toBe(false);
    expect<string>(id.revision).toBe("");
    expect<string>(id.cluster).toBe("");
    expect<string>(id.namespace).toBe("shop");
  });

  it("finds the namespace in the node id when metadata lacks it", () => {
    expect<string>(namespaceFromNodeId("sidecar~1.2.3.4~p.ns1~ns1.svc.cluster.local")).toBe("ns1");
    expect<string>(namespaceFromNodeId("garbage")).toBe("");
    expect<string>(namespaceFromNodeId(null)).toBe("");
  });
});
