import { authorityInMesh, clusterInMesh, destinationInMesh } from "../destination";

const DOMAINS = ["cluster.local"];

describe("clusterInMesh", () => {
  it("takes Istio's Kubernetes service and inbound clusters as in the mesh", () => {
    expect<bool>(clusterInMesh("outbound|80||hello.demo.svc.cluster.local", DOMAINS)).toBe(true);
    expect<bool>(clusterInMesh("outbound|8012|v1|hello-00001.demo.svc.cluster.local", DOMAINS)).toBe(true);
    expect<bool>(clusterInMesh("inbound|8012||", DOMAINS)).toBe(true);
    expect<bool>(clusterInMesh("outbound|80||hello.demo.svc.east.example", ["east.example"])).toBe(true);
  });

  it("takes ServiceEntry hosts, passthrough and other names as outside", () => {
    expect<bool>(clusterInMesh("outbound|443||api.partner.example", DOMAINS)).toBe(false);
    expect<bool>(clusterInMesh("PassthroughCluster", DOMAINS)).toBe(false);
    expect<bool>(clusterInMesh("outbound|80||evil.svc.cluster.local.example", DOMAINS)).toBe(false);
    expect<bool>(clusterInMesh("outbound|80||hello.demo.svc.cluster.local", ["other.local"])).toBe(false);
  });
});

describe("authorityInMesh (no cluster name)", () => {
  it("knows Kubernetes service names, with or without a port", () => {
    expect<bool>(authorityInMesh("hello", DOMAINS)).toBe(true);
    expect<bool>(authorityInMesh("hello:8080", DOMAINS)).toBe(true);
    expect<bool>(authorityInMesh("hello.demo.svc", DOMAINS)).toBe(true);
    expect<bool>(authorityInMesh("Hello.Demo.SVC.Cluster.Local:80", DOMAINS)).toBe(true);
  });

  it("takes public names, IPs and two-label names as outside", () => {
    expect<bool>(authorityInMesh("api.partner.example", DOMAINS)).toBe(false);
    expect<bool>(authorityInMesh("198.51.100.99:8080", DOMAINS)).toBe(false);
    expect<bool>(authorityInMesh("[2001:db8::1]:443", DOMAINS)).toBe(false);
    expect<bool>(authorityInMesh("hello.default", DOMAINS)).toBe(false);
    expect<bool>(authorityInMesh("", DOMAINS)).toBe(false);
    expect<bool>(authorityInMesh(null, DOMAINS)).toBe(false);
  });
});

describe("destinationInMesh", () => {
  it("lets the route decide, and at a gateway never the public :authority", () => {
    expect<bool>(destinationInMesh("outbound|443||api.partner.example", "hello", DOMAINS, false)).toBe(false);
    expect<bool>(
      destinationInMesh(
        "outbound|80||hello-00001.demo.svc.cluster.local",
        "hello.example.com",
        DOMAINS,
        true,
      ),
    ).toBe(true);
    expect<bool>(destinationInMesh(null, "hello.example.com", DOMAINS, true)).toBe(true);
    expect<bool>(destinationInMesh(null, "hello.example.com", DOMAINS, false)).toBe(false);
    expect<bool>(destinationInMesh("", "hello", DOMAINS, false)).toBe(true);
  });
});
