// Errors at the revision pod's inbound sidecar: 5xx, streams without an upstream response (read
// from the response code and Envoy's response flags) and gRPC failures, each with its error_kind.

import { describe, expect, it } from "vitest";

import type { StreamEndKind } from "../harness/stream-ends.js";
import type { HeaderList, StreamEnd } from "../harness/types.js";
import { LAYOUTS, REQUEST, REV, exchange, loadProxy, metricValue, onEachWorker, seriesOf } from "./setup.js";

// Envoy's response flags (StreamInfo::CoreResponseFlag bit positions).
const FLAGS = {
  NoHealthyUpstream: 0x2,
  UpstreamRequestTimeout: 0x4,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  NoRouteFound: 0x100,
  RateLimited: 0x800,
  DownstreamConnectionTermination: 0x4000,
};

const GRPC_REQUEST: HeaderList = [
  [":method", "POST"],
  [":path", "/hello.Greeter/SayHello"],
  ["content-type", "application/grpc"],
];

interface ErrorCase {
  name: string;
  request: HeaderList;
  /** Response headers' :status; undefined when no response started. */
  status?: number;
  end: StreamEnd;
  codeClass: string;
  kind: string | null;
  /** False when Envoy answered without sending the request to queue-proxy: no invocation. */
  invocation?: false;
  /** Whether Envoy picked an upstream host (upstream.address); true unless said. */
  upstreamHost?: false;
}

const CASES: ErrorCase[] = [
  {
    name: "a 5xx from the upstream",
    request: REQUEST,
    status: 503,
    end: {},
    codeClass: "5xx",
    kind: "http_5xx",
  },
  {
    name: "an upstream reset before any response",
    request: REQUEST,
    end: { responseFlags: FLAGS.UpstreamRemoteReset },
    codeClass: "none",
    kind: "upstream_reset",
  },
  {
    name: "a connection failure answered locally with 503",
    request: REQUEST,
    status: 503,
    end: { responseFlags: FLAGS.UpstreamConnectionFailure },
    codeClass: "5xx",
    kind: "upstream_reset",
    invocation: false,
  },
  {
    name: "an upstream timeout",
    request: REQUEST,
    status: 504,
    end: { responseFlags: FLAGS.UpstreamRequestTimeout },
    codeClass: "5xx",
    kind: "timeout",
  },
  {
    name: "no healthy upstream",
    request: REQUEST,
    status: 503,
    end: { responseFlags: FLAGS.NoHealthyUpstream },
    codeClass: "5xx",
    kind: "no_healthy_upstream",
    invocation: false,
    upstreamHost: false,
  },
  {
    name: "a local reply (no route)",
    request: REQUEST,
    status: 404,
    end: { responseFlags: FLAGS.NoRouteFound },
    codeClass: "4xx",
    kind: "local_reply",
    invocation: false,
    upstreamHost: false,
  },
  {
    name: "a local reply only the details name, before any upstream host (a direct response)",
    request: REQUEST,
    status: 503,
    end: { responseCodeDetails: "direct_response" },
    codeClass: "5xx",
    kind: "local_reply",
    invocation: false,
    upstreamHost: false,
  },
  {
    name: "a local reply only the details name, after the upstream answered",
    request: REQUEST,
    status: 500,
    end: { responseCodeDetails: "response_payload_too_large" },
    codeClass: "5xx",
    kind: "local_reply",
  },
  {
    name: "a client that went away",
    request: REQUEST,
    end: { responseFlags: FLAGS.DownstreamConnectionTermination },
    codeClass: "none",
    kind: "downstream_reset",
  },
  {
    name: "a stream that ended with no response and no reason",
    request: REQUEST,
    end: {},
    codeClass: "none",
    kind: "upstream_reset",
  },
  {
    name: "a gRPC call with a non-OK status under HTTP 200",
    request: GRPC_REQUEST,
    status: 200,
    end: { grpcStatus: 14 },
    codeClass: "2xx",
    kind: "grpc",
  },
  {
    name: "a gRPC call that succeeded",
    request: GRPC_REQUEST,
    status: 200,
    end: { grpcStatus: 0 },
    codeClass: "2xx",
    kind: null,
  },
  {
    name: "a plain HTTP 200 whatever Envoy's derived grpc_status says",
    request: REQUEST,
    status: 200,
    end: { grpcStatus: 2 },
    codeClass: "2xx",
    kind: null,
  },
  { name: "a 4xx from the upstream", request: REQUEST, status: 429, end: {}, codeClass: "4xx", kind: null },
];

describe.each(LAYOUTS)("errors, %s property layout", (layout) => {
  it.each(CASES)("$name", async ({ request, status, end, codeClass, kind, invocation, upstreamHost }) => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const connection = upstreamHost === false ? { upstreamAddress: undefined } : {};
    exchange(plugin, request, { status, end, connection });
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{${REV},source_cluster="",response_code_class="${codeClass}"}`,
      ),
    ).toBe(invocation === false ? undefined : 1);
    if (kind === null) {
      expect(seriesOf(plugin, "knative_errors_total")).toEqual([]);
    } else {
      expect(seriesOf(plugin, "knative_errors_total")).toHaveLength(1);
      expect(
        metricValue(
          plugin,
          `knative_errors_total{${REV},source_cluster="",response_code_class="${codeClass}",error_kind="${kind}"}`,
        ),
      ).toBe(1);
    }
  });

  it("keeps separate series per error kind and counts repeats", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    exchange(plugin, REQUEST, { status: 503 });
    exchange(plugin, REQUEST, { status: 503 });
    exchange(plugin, REQUEST, { status: 504, end: { responseFlags: FLAGS.UpstreamRequestTimeout } });
    exchange(plugin, REQUEST, { status: 200 });
    const errors = (kind: string) =>
      metricValue(
        plugin,
        `knative_errors_total{${REV},source_cluster="",response_code_class="5xx",error_kind="${kind}"}`,
      );
    expect(errors("http_5xx")).toBe(2);
    expect(errors("timeout")).toBe(1);
    expect(
      metricValue(plugin, `knative_invocations_total{${REV},source_cluster="",response_code_class="5xx"}`),
    ).toBe(3);
    expect(
      metricValue(plugin, `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`),
    ).toBe(1);
  });
});

// Every stream end the filter sees, ended as Envoy ends it on each version (docs/harness.md, "Stream
// ends": code, response.code_details, flags), is blamed on the party that ended it: an HTTP/2
// client's cancel is downstream_reset on 1.28 too, where it has no flag and only the details say so.
/** `status`: the :status the filter's response headers see (none when no response started). */
// A connection failure never delivered the request: an error, not an invocation.
const STREAM_END_KINDS: {
  end: StreamEndKind;
  status?: number;
  codeClass: string;
  kind: string | null;
  invocation?: false;
}[] = [
  { end: "upstream_response", status: 200, codeClass: "2xx", kind: null },
  {
    end: "upstream_connection_failure",
    status: 503,
    codeClass: "5xx",
    kind: "upstream_reset",
    invocation: false,
  },
  { end: "upstream_reset_before_response", status: 503, codeClass: "5xx", kind: "upstream_reset" },
  { end: "upstream_reset_after_response", status: 200, codeClass: "2xx", kind: "upstream_reset" },
  { end: "upstream_timeout", status: 504, codeClass: "5xx", kind: "timeout" },
  { end: "request_payload_too_large", status: 413, codeClass: "4xx", kind: null },
  { end: "response_payload_too_large", status: 500, codeClass: "5xx", kind: "local_reply" },
  { end: "http1_client_disconnect", codeClass: "none", kind: "downstream_reset" },
  { end: "http2_client_reset", codeClass: "none", kind: "downstream_reset" },
];

/** One Envoy of each property layout (docs/harness.md, "Stream ends"). */
const ENVOY_VERSIONS = ["1.28", "1.30", "1.33"];

describe.each(ENVOY_VERSIONS)("stream ends as Envoy %s ends them", (envoy) => {
  it.each(STREAM_END_KINDS)("$end is $kind", async ({ end, status, codeClass, kind, invocation }) => {
    const plugin = await loadProxy({ envoy, position: "inbound" });
    exchange(plugin, REQUEST, { status, end: plugin.streamEnd(end) });
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{${REV},source_cluster="",response_code_class="${codeClass}"}`,
      ),
    ).toBe(invocation === false ? undefined : 1);
    const errors = seriesOf(plugin, "knative_errors_total");
    if (kind === null) expect(errors).toEqual([]);
    else expect(errors).toEqual([expect.stringContaining(`error_kind="${kind}"} 1`)]);
  });

  it("reads response.code_details only when no flag and no 2xx-4xx says enough", async () => {
    const plugin = await loadProxy({ envoy, position: "inbound" });
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { end: plugin.streamEnd("http2_client_reset") }));
    const warm = exchange(plugin, REQUEST, { status: 200 });
    const cancelled = exchange(plugin, REQUEST, { end: plugin.streamEnd("http2_client_reset") });
    // No pod stamp to write, one more counter (the error) and the error kind for the access log;
    // on 1.28, where no flag names the client's reset, also response.code_details.
    expect(cancelled.stream.hostCalls - warm.stream.hostCalls).toBe(envoy === "1.28" ? 2 : 1);
  });

  it("asks whether an upstream host was picked only for a local reply no flag names", async () => {
    const plugin = await loadProxy({ envoy, position: "inbound" });
    const upstream5xx = () =>
      exchange(plugin, REQUEST, { status: 503, end: { responseCodeDetails: "via_upstream" } });
    const tooLarge = () =>
      exchange(plugin, REQUEST, { status: 500, end: plugin.streamEnd("response_payload_too_large") });
    const timedOut = () =>
      exchange(plugin, REQUEST, { status: 504, end: { responseFlags: FLAGS.UpstreamRequestTimeout } });
    const rateLimited = () =>
      exchange(plugin, REQUEST, { status: 429, end: { responseFlags: FLAGS.RateLimited } });
    for (const kind of [upstream5xx, tooLarge, timedOut, rateLimited]) onEachWorker(plugin, kind);
    // + upstream.address: Envoy's 500 came after the upstream answered, so it is an invocation.
    expect(tooLarge().stream.hostCalls - upstream5xx().stream.hostCalls).toBe(1);
    // The flag alone says the request went nowhere: no read, and no invocation to count.
    expect(rateLimited().stream.hostCalls - timedOut().stream.hostCalls).toBe(-1);
  });
});
