import { ActivatorProof, activatorProofOf, facesMesh, meshIdentityOf } from "../trust";

const DOMAINS = ["cluster.local"];
const ACTIVATOR = "spiffe://cluster.local/ns/knative-serving/sa/controller";

describe("meshIdentityOf", () => {
  it("reads an Istio workload id of a configured trust domain", () => {
    const identity = meshIdentityOf("spiffe://cluster.local/ns/shop/sa/checkout", DOMAINS)!;
    expect<string>(identity.trustDomain).toBe("cluster.local");
    expect<string>(identity.namespace).toBe("shop");
    expect<string>(identity.serviceAccount).toBe("checkout");
    expect<bool>(identity.isActivator).toBe(false);
    expect<bool>(meshIdentityOf(ACTIVATOR, DOMAINS)!.isActivator).toBe(true);
    expect(
      meshIdentityOf("spiffe://east.example/ns/a/sa/b", ["west.example", "east.example"]),
    ).not.toBeNull();
  });

  it("refuses other trust domains, other shapes and other schemes", () => {
    expect(meshIdentityOf(null, DOMAINS)).toBeNull();
    expect(meshIdentityOf("", DOMAINS)).toBeNull();
    // A client CA may sign any URI SAN: only the configured trust domains count.
    expect(meshIdentityOf("spiffe://partner.example/ns/shop/sa/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local.evil/ns/shop/sa/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("https://cluster.local/ns/shop/sa/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/ns/shop", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/ns/shop/sa/checkout/extra", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/sa/shop/ns/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/ns//sa/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/ns/../sa/checkout", DOMAINS)).toBeNull();
    expect(meshIdentityOf("spiffe://cluster.local/ns/shop/sa/checkout?x=1", DOMAINS)).toBeNull();
    expect(meshIdentityOf(ACTIVATOR, [])).toBeNull();
  });
});

describe("facesMesh", () => {
  it("is true only on a listed port", () => {
    expect<bool>(facesMesh(8081, [8081])).toBe(true);
    expect<bool>(facesMesh(8443, [8081])).toBe(false);
    expect<bool>(facesMesh(-1, [8081])).toBe(false);
    expect<bool>(facesMesh(8081, [])).toBe(false);
  });
});

/** What the sidecar concludes from the peer's URI SAN. */
function activatorProof(peerUriSan: string | null, trustDomains: string[]): ActivatorProof {
  return activatorProofOf(peerUriSan != null, meshIdentityOf(peerUriSan, trustDomains));
}

describe("activatorProofOf", () => {
  it("believes K-Proxy-Request only from the activator's identity", () => {
    expect<ActivatorProof>(activatorProof(ACTIVATOR, DOMAINS)).toBe(ActivatorProof.Activator);
    expect<ActivatorProof>(activatorProof("spiffe://cluster.local/ns/shop/sa/checkout", DOMAINS)).toBe(
      ActivatorProof.Forged,
    );
    // The same names in a trust domain the mesh does not use prove nothing either.
    expect<ActivatorProof>(
      activatorProof("spiffe://evil.example/ns/knative-serving/sa/controller", DOMAINS),
    ).toBe(ActivatorProof.Forged);
  });

  it("cannot tell from a peer without a certificate identity (an activator without a sidecar)", () => {
    expect<ActivatorProof>(activatorProof(null, DOMAINS)).toBe(ActivatorProof.Unverifiable);
  });
});
