// The connection manager's access log: Envoy's format subset, filter state set by a hand-written
// module with proxy_set_property (wasm.<name>), and both orders of loggers and on_log.

import { describe, expect, it } from "vitest";

import { AccessLogFormat, type AccessLogEntry } from "../harness/access-log.js";
import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { ResponseFlag } from "../harness/response-flags.js";
import { messages, ProxyModule } from "./wat.js";

/** Sets wasm.in_headers in on_request_headers and wasm.in_log in on_log, logging "on_log". */
function settingModule(): Uint8Array {
  const module = new ProxyModule().use("env.proxy_set_property");
  return module.build(`
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $proxy_set_property ${module.text("in_headers")} ${module.text("cold-start")}))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (call $say ${module.text("on_log")})
    (drop (call $proxy_set_property ${module.text("in_log")} ${module.text("hop-2")})))`);
}

const FORMAT = [
  "%FILTER_STATE(wasm.in_headers:PLAIN)%",
  "%FILTER_STATE(wasm.in_log:PLAIN)%",
  "%FILTER_STATE(wasm.in_headers:PLAIN):4%",
  "%FILTER_STATE(wasm.unset:PLAIN)%",
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %DURATION%",
  "%REQ(:PATH)% %REQ(X-MISSING?:METHOD)% %REQ(x-absent)% %UPSTREAM_CLUSTER%",
].join(" ");

/** The stream's access log lines, and whether the module's on_log had run when each was written. */
async function logLines(envoy: string): Promise<{ lines: string[]; order: string[] }> {
  const order: string[] = [];
  const lines: string[] = [];
  const clock = new ManualClock();
  let onLogRan = (): boolean => false;
  const plugin = await Plugin.load({
    wasm: settingModule(),
    envoy,
    clock,
    accessLog: {
      format: FORMAT,
      write: (line) => {
        lines.push(line);
        order.push(onLogRan() ? "after on_log" : "before on_log");
      },
    },
  });
  onLogRan = () => messages(plugin.logs).includes("on_log");
  const stream = plugin.createStream({ upstreamCluster: "outbound|80||hello.default.svc.cluster.local" });
  stream.onRequestHeaders(
    [
      [":path", "/p?q=1"],
      [":method", "GET"],
    ],
    true,
  );
  clock.advance(12.7);
  stream.end(plugin.streamEnd("upstream_connection_failure"));
  expect(messages(plugin.logs)).toEqual(["on_log"]);
  plugin.close();
  return { lines, order };
}

describe("access log order around proxy_on_log", () => {
  it("Envoy 1.28 (up to 1.31): the connection manager's logger runs first, so a value set in on_log is missing", async () => {
    const { lines, order } = await logLines("1.28");
    expect(order).toEqual(["before on_log"]);
    expect(lines).toEqual([
      "cold-start - cold - 503 UF upstream_reset_before_response_started{connection_failure} 12 /p?q=1 GET - outbound|80||hello.default.svc.cluster.local",
    ]);
  });

  it("Envoy 1.33 (from 1.32): the filters' on_log runs first, so its value is in the line", async () => {
    const { lines, order } = await logLines("1.33");
    expect(order).toEqual(["after on_log"]);
    expect(lines[0]).toMatch(/^cold-start hop-2 cold - 503 UF /);
  });

  it("logs streams the module never saw, without calling it", async () => {
    const lines: string[] = [];
    const plugin = await Plugin.load({
      wasm: settingModule(),
      accessLog: {
        format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%",
        write: (l) => lines.push(l),
      },
    });
    const stream = plugin.createStream({ beforeFilterChain: true });
    stream.onRequestHeaders([[":path", "/big"]], true);
    stream.end(plugin.streamEnd("too_many_request_headers"));
    expect(lines).toEqual(["431 DPE http1.too_many_headers /big"]);
    expect(messages(plugin.logs)).not.toContain("on_log");
    plugin.close();
  });
});

describe("AccessLogFormat", () => {
  const entry: AccessLogEntry = {
    filterState: (key) => (key === "wasm.k" ? new TextEncoder().encode("value") : undefined),
    requestHeader: (name) => (name === "x-a" ? "a" : undefined),
    responseFlags: ResponseFlag.UpstreamConnectionFailure | 0x8000,
  };

  it("prints 0 for no response code, '-' for what is not there, flags by short name in bit order", () => {
    expect(
      AccessLogFormat.parse("[%RESPONSE_CODE%|%RESPONSE_FLAGS%|%RESPONSE_CODE_DETAILS%|%DURATION%]").format(
        entry,
      ),
    ).toBe("[0|UF,URX|-|-]");
    expect(
      AccessLogFormat.parse("%FILTER_STATE(wasm.k:PLAIN):2% %REQ(X-A):9% %RESPONSE_FLAGS:1%").format(entry),
    ).toBe("va a U");
    expect(AccessLogFormat.parse("no operators").format(entry)).toBe("no operators");
  });

  it("prints the stream's start time as Envoy's default and in a strftime subset, UTC", () => {
    // 2026-12-01T14:30:05.123456789Z
    const started = { ...entry, startTimeNs: 1_796_135_405_123_456_789n };
    expect(AccessLogFormat.parse("%START_TIME%").format(started)).toBe("2026-12-01T14:30:05.123Z");
    expect(AccessLogFormat.parse("%START_TIME(%s%3f)%").format(started)).toBe("1796135405123");
    expect(AccessLogFormat.parse("%START_TIME(%s.%f)%").format(started)).toBe("1796135405.123456789");
    expect(AccessLogFormat.parse("%START_TIME(%Y/%m/%d %H:%M:%S %1f%%)%").format(started)).toBe(
      "2026/12/01 14:30:05 1%",
    );
    expect(AccessLogFormat.parse("%START_TIME%").format(entry)).toBe("-");
  });

  it("prints the time to the request's last byte upstream in whole milliseconds, '-' when never sent", () => {
    const sent = { ...entry, requestTxDurationNs: 2_999_999n };
    expect(AccessLogFormat.parse("%REQUEST_TX_DURATION%").format(sent)).toBe("2");
    expect(AccessLogFormat.parse("%REQUEST_TX_DURATION%").format(entry)).toBe("-");
  });

  it.each([
    [
      "%UPSTREAM_HOST%",
      "at character 1: %UPSTREAM_HOST% is not supported; kwt supports %FILTER_STATE(KEY:PLAIN)%",
    ],
    ["%START_TIME(%s %Z)%", "%START_TIME(%s %Z)%: at '%Z', expected one of %s, %f"],
    ["x %FILTER_STATE(wasm.k)%", "at character 3: %FILTER_STATE(wasm.k)%: kwt supports only the PLAIN form"],
    ["%FILTER_STATE(wasm.k:TYPED)%", "kwt supports only the PLAIN form"],
    ["100% %RESPONSE_CODE%", "at character 4: '%' starts no command operator"],
    ["%REQ()%", "%REQ(...)% needs a header name"],
    ["%DURATION(x)%", "%DURATION% takes no argument"],
  ])("refuses %s with a message naming the operator", (format, message) => {
    expect(() => AccessLogFormat.parse(format)).toThrow(message);
  });
});
