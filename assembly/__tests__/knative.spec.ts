import {
  ErrorKind,
  classifyOutcome,
  codeClassIndex,
  codeClassName,
  errorKindKnownAtResponseHeaders,
  errorKindName,
  isActivatorRequest,
  isGrpcContentType,
  isProbe,
  isReadinessProbe,
  needsCodeDetails,
  needsUpstreamAddress,
  reachedUpstream,
} from "../knative";

/** isProbe with the user agent as text (null: none), as the header scan keeps it in bytes. */
function isProbeOf(userAgent: string | null, hasNetworkProbe: bool, hasKubeletProbe: bool): bool {
  if (userAgent == null) return isProbe(0, 0, hasNetworkProbe, hasKubeletProbe);
  const bytes = String.UTF8.encode(userAgent);
  return isProbe(changetype<usize>(bytes), <u32>bytes.byteLength, hasNetworkProbe, hasKubeletProbe);
}

describe("isProbe", () => {
  it("detects Knative's probe headers", () => {
    expect<bool>(isProbeOf(null, true, false)).toBe(true);
    expect<bool>(isProbeOf(null, false, true)).toBe(true);
  });

  it("detects probe user agents", () => {
    expect<bool>(isProbeOf("kube-probe/1.29", false, false)).toBe(true);
    expect<bool>(isProbeOf("Knative-Activator-Probe", false, false)).toBe(true);
    expect<bool>(isProbeOf("Knative-Autoscaling-Probe", false, false)).toBe(true);
    expect<bool>(isProbeOf("Knative-Ingress-Probe", false, false)).toBe(true);
  });

  it("does not take ordinary clients for probes", () => {
    expect<bool>(isProbeOf(null, false, false)).toBe(false);
    expect<bool>(isProbeOf("curl/8.5.0", false, false)).toBe(false);
    expect<bool>(isProbeOf("my-kube-probe/1", false, false)).toBe(false);
    expect<bool>(isProbeOf("Knative-Serving", false, false)).toBe(false);
  });
});

/** A header value as the scan keeps it: its UTF-8 (null: absent, address 0). */
class Value {
  readonly bytes: ArrayBuffer | null;
  constructor(text: string | null) {
    this.bytes = text != null ? String.UTF8.encode(text) : null;
  }
  get at(): usize {
    return this.bytes != null ? changetype<usize>(this.bytes) : 0;
  }
  get length(): u32 {
    return this.bytes != null ? <u32>this.bytes!.byteLength : 0;
  }
}

function activatorOf(text: string | null): bool {
  const value = new Value(text);
  return isActivatorRequest(value.at, value.length);
}

function grpcOf(text: string | null): bool {
  const value = new Value(text);
  return isGrpcContentType(value.at, value.length);
}

function readinessOf(text: string | null): bool {
  const value = new Value(text);
  return isReadinessProbe(value.at, value.length);
}

describe("isActivatorRequest / isGrpcContentType", () => {
  it("recognises K-Proxy-Request: activator in any case", () => {
    expect<bool>(activatorOf("activator")).toBe(true);
    expect<bool>(activatorOf("Activator")).toBe(true);
    expect<bool>(activatorOf("activator2")).toBe(false);
    expect<bool>(activatorOf("")).toBe(false);
    expect<bool>(activatorOf(null)).toBe(false);
  });

  it("recognises gRPC content types", () => {
    expect<bool>(grpcOf("application/grpc")).toBe(true);
    expect<bool>(grpcOf("application/grpc+proto")).toBe(true);
    expect<bool>(grpcOf("Application/GRPC-web")).toBe(true);
    expect<bool>(grpcOf("application/json")).toBe(false);
    expect<bool>(grpcOf("application/grp")).toBe(false);
    expect<bool>(grpcOf(null)).toBe(false);
  });
});

describe("isReadinessProbe", () => {
  it("recognises the activator's readiness probe, K-Network-Probe: queue, in any case", () => {
    expect<bool>(readinessOf("queue")).toBe(true);
    expect<bool>(readinessOf("Queue")).toBe(true);
    expect<bool>(readinessOf("probe")).toBe(false);
    expect<bool>(readinessOf("")).toBe(false);
    expect<bool>(readinessOf(null)).toBe(false);
  });
});

describe("response code classes", () => {
  it("maps codes to classes and names", () => {
    expect<i32>(codeClassIndex(200)).toBe(2);
    expect<i32>(codeClassIndex(101)).toBe(1);
    expect<i32>(codeClassIndex(599)).toBe(5);
    expect<i32>(codeClassIndex(0)).toBe(0);
    expect<i32>(codeClassIndex(600)).toBe(0);
    expect<i32>(codeClassIndex(99)).toBe(0);
    expect<string>(codeClassName(4)).toBe("4xx");
    expect<string>(codeClassName(0)).toBe("none");
    expect<string>(codeClassName(9)).toBe("none");
  });
});

describe("classifyOutcome", () => {
  it("is no error for answered requests below 500", () => {
    expect<ErrorKind>(classifyOutcome(200, 0, false, -1)).toBe(ErrorKind.None);
    expect<ErrorKind>(classifyOutcome(404, 0, false, -1)).toBe(ErrorKind.None);
    expect<ErrorKind>(classifyOutcome(200, 0x200, false, -1)).toBe(ErrorKind.None); // delay injected
  });

  it("counts 5xx from the upstream", () => {
    expect<ErrorKind>(classifyOutcome(503, 0, false, -1)).toBe(ErrorKind.Http5xx);
    expect<ErrorKind>(classifyOutcome(500, 0, true, 2)).toBe(ErrorKind.Http5xx);
  });

  it("reads Envoy's response flags before the code", () => {
    expect<ErrorKind>(classifyOutcome(504, 0x4, false, -1)).toBe(ErrorKind.Timeout); // UT
    expect<ErrorKind>(classifyOutcome(408, 0x10000, false, -1)).toBe(ErrorKind.Timeout); // SI
    expect<ErrorKind>(classifyOutcome(503, 0x2, false, -1)).toBe(ErrorKind.NoHealthyUpstream); // UH
    expect<ErrorKind>(classifyOutcome(503, 0x20, false, -1)).toBe(ErrorKind.UpstreamReset); // UF
    expect<ErrorKind>(classifyOutcome(503, 0x10, false, -1)).toBe(ErrorKind.UpstreamReset); // UR
    expect<ErrorKind>(classifyOutcome(0, 0x4000, false, -1)).toBe(ErrorKind.DownstreamReset); // DC
    expect<ErrorKind>(classifyOutcome(0, 0x10000000, false, -1)).toBe(ErrorKind.DownstreamReset); // DR
    expect<ErrorKind>(classifyOutcome(404, 0x100, false, -1)).toBe(ErrorKind.LocalReply); // NR
    expect<ErrorKind>(classifyOutcome(429, 0x800, false, -1)).toBe(ErrorKind.LocalReply); // RL
  });

  it("takes a stream without any response nor a named reason for a reset", () => {
    expect<ErrorKind>(classifyOutcome(0, 0, false, -1)).toBe(ErrorKind.UpstreamReset);
    expect<ErrorKind>(classifyOutcome(0, 0, false, -1, "")).toBe(ErrorKind.UpstreamReset);
  });

  it("blames the party response.code_details names when no flag does", () => {
    // Envoy 1.28: an HTTP/2 client's reset has no flag.
    expect<ErrorKind>(classifyOutcome(0, 0, false, -1, "http2.remote_reset")).toBe(ErrorKind.DownstreamReset);
    expect<ErrorKind>(classifyOutcome(0, 0, false, -1, "downstream_remote_disconnect")).toBe(
      ErrorKind.DownstreamReset,
    );
    expect<ErrorKind>(
      classifyOutcome(0, 0, false, -1, "upstream_reset_after_response_started{connection_termination}"),
    ).toBe(ErrorKind.UpstreamReset);
    expect<ErrorKind>(classifyOutcome(504, 0, false, -1, "upstream_response_timeout")).toBe(
      ErrorKind.Timeout,
    );
    expect<ErrorKind>(classifyOutcome(503, 0, false, -1, "no_healthy_upstream")).toBe(
      ErrorKind.NoHealthyUpstream,
    );
    // Envoy's own 500 for a response over the buffer limit is not the workload's 5xx.
    expect<ErrorKind>(classifyOutcome(500, 0, false, -1, "response_payload_too_large")).toBe(
      ErrorKind.LocalReply,
    );
    expect<ErrorKind>(classifyOutcome(503, 0, false, -1, "via_upstream")).toBe(ErrorKind.Http5xx);
  });

  it("lets flags win over the details", () => {
    expect<ErrorKind>(classifyOutcome(0, 0x10000000, false, -1, "http2.remote_reset")).toBe(
      ErrorKind.DownstreamReset,
    );
    expect<ErrorKind>(classifyOutcome(503, 0x40, false, -1, "downstream_remote_disconnect")).toBe(
      ErrorKind.UpstreamReset,
    );
  });

  it("asks for the details only for a 5xx or no response that no flag explains", () => {
    expect<bool>(needsCodeDetails(200, 0)).toBe(false);
    expect<bool>(needsCodeDetails(404, 0)).toBe(false);
    expect<bool>(needsCodeDetails(200, 0x4000)).toBe(false);
    expect<bool>(needsCodeDetails(0, 0x4000)).toBe(false);
    expect<bool>(needsCodeDetails(503, 0x20)).toBe(false);
    expect<bool>(needsCodeDetails(0, 0)).toBe(true);
    expect<bool>(needsCodeDetails(500, 0)).toBe(true);
    expect<bool>(needsCodeDetails(503, 0)).toBe(true);
  });

  it("counts a non-OK gRPC status under HTTP 2xx for gRPC requests only", () => {
    expect<ErrorKind>(classifyOutcome(200, 0, true, 14)).toBe(ErrorKind.Grpc);
    expect<ErrorKind>(classifyOutcome(200, 0, true, 0)).toBe(ErrorKind.None);
    expect<ErrorKind>(classifyOutcome(200, 0, true, -1)).toBe(ErrorKind.None);
    expect<ErrorKind>(classifyOutcome(200, 0, false, 14)).toBe(ErrorKind.None);
  });

  it("takes a 504 from the upstream for a timeout, gRPC or plain HTTP", () => {
    // queue-proxy's timeout handler (the revision's timeoutSeconds) answers 504 to both.
    expect<ErrorKind>(classifyOutcome(504, 0, true, -1, "via_upstream")).toBe(ErrorKind.Timeout);
    expect<ErrorKind>(classifyOutcome(504, 0, false, -1, "via_upstream")).toBe(ErrorKind.Timeout);
    expect<ErrorKind>(classifyOutcome(503, 0, true, -1, "via_upstream")).toBe(ErrorKind.Http5xx);
    expect<ErrorKind>(classifyOutcome(503, 0, false, -1, "via_upstream")).toBe(ErrorKind.Http5xx);
    // A 504 Envoy answered itself is named by its details, not by the code.
    expect<ErrorKind>(classifyOutcome(504, 0, false, -1, "rate_limited")).toBe(ErrorKind.LocalReply);
    // Without the details the source of the 504 is unknown.
    expect<ErrorKind>(classifyOutcome(504, 0, true, -1)).toBe(ErrorKind.Http5xx);
  });

  it("waits for the details before naming a 504 without flags", () => {
    expect<bool>(errorKindKnownAtResponseHeaders(504, 0)).toBe(false);
    expect<bool>(errorKindKnownAtResponseHeaders(504, 0x4)).toBe(true);
    expect<bool>(errorKindKnownAtResponseHeaders(503, 0)).toBe(true);
    expect<bool>(errorKindKnownAtResponseHeaders(500, 0)).toBe(true);
  });

  it("names every kind", () => {
    expect<string>(errorKindName(ErrorKind.Http5xx)).toBe("http_5xx");
    expect<string>(errorKindName(ErrorKind.LocalReply)).toBe("local_reply");
    expect<string>(errorKindName(ErrorKind.UpstreamReset)).toBe("upstream_reset");
    expect<string>(errorKindName(ErrorKind.Timeout)).toBe("timeout");
    expect<string>(errorKindName(ErrorKind.NoHealthyUpstream)).toBe("no_healthy_upstream");
    expect<string>(errorKindName(ErrorKind.DownstreamReset)).toBe("downstream_reset");
    expect<string>(errorKindName(ErrorKind.Grpc)).toBe("grpc");
    expect<string>(errorKindName(ErrorKind.None)).toBe("");
  });
});

/** Whether a stream that ended so reached the upstream, as the filter decides it at on_log. */
function reached(code: i64, flags: u64, details: string | null, hasUpstreamAddress: bool): bool {
  return reachedUpstream(flags, classifyOutcome(code, flags, false, -1, details), hasUpstreamAddress);
}

describe("reachedUpstream", () => {
  it("counts what the upstream answered, and timeouts and resets, as reaching it", () => {
    expect<bool>(reached(200, 0, null, true)).toBe(true);
    expect<bool>(reached(503, 0, "via_upstream", true)).toBe(true);
    expect<bool>(reached(504, 0x4, null, true)).toBe(true); // UT
    expect<bool>(reached(503, 0x10, null, true)).toBe(true); // UR
    expect<bool>(reached(0, 0x4000, null, true)).toBe(true); // DC: the client left while it ran
    expect<bool>(reached(0, 0, "http2.remote_reset", true)).toBe(true);
  });

  it("never counts what Envoy refused before sending it anywhere", () => {
    expect<bool>(reached(429, 0x800, null, false)).toBe(false); // RL
    expect<bool>(reached(404, 0x100, null, false)).toBe(false); // NR
    expect<bool>(reached(403, 0x1000, null, false)).toBe(false); // UAEX
    expect<bool>(reached(503, 0x400, null, false)).toBe(false); // FI
    expect<bool>(reached(503, 0x2, null, false)).toBe(false); // UH
    expect<bool>(reached(503, 0x80, null, true)).toBe(false); // UO
    expect<bool>(reached(503, 0x20, null, true)).toBe(false); // UF: a host, but no connection
    expect<bool>(reached(503, 0, "no_healthy_upstream", false)).toBe(false);
  });

  it("decides a local reply no flag explains by whether Envoy picked an upstream host", () => {
    expect<bool>(reached(500, 0, "response_payload_too_large", true)).toBe(true);
    expect<bool>(reached(500, 0, "direct_response", false)).toBe(false);
  });

  it("asks for the upstream host only for such local replies", () => {
    expect<bool>(needsUpstreamAddress(0, ErrorKind.LocalReply)).toBe(true);
    expect<bool>(needsUpstreamAddress(0x800, ErrorKind.LocalReply)).toBe(false);
    expect<bool>(needsUpstreamAddress(0, ErrorKind.Http5xx)).toBe(false);
    expect<bool>(needsUpstreamAddress(0x4, ErrorKind.Timeout)).toBe(false);
    expect<bool>(needsUpstreamAddress(0, ErrorKind.None)).toBe(false);
  });
});
