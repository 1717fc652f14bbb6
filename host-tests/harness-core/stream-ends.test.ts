// Stream ends per Envoy version: what a hand-written module reads in proxy_on_log, the version
// boundaries, and the table in docs/harness.md, which must say what the harness does.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import { Plugin } from "../harness/plugin.js";
import { ResponseFlag, responseFlagsText } from "../harness/response-flags.js";
import {
  envoyMinorVersion,
  envoyStreamEnd,
  requestHeaderLimitExceeded,
  STREAM_END_ROWS,
  type StreamEndRow,
} from "../harness/stream-ends.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hex = (text: string): string => Buffer.from(text).toString("hex");
const int64Hex = (value: number): string => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(BigInt(value));
  return bytes.toString("hex");
};

/** Reads response.code, response.code_details and response.flags in on_log. */
function endProbe(): Uint8Array {
  const module = new ProxyModule().use("env.proxy_get_property");
  const read = (property: string) => `(call $clear)
    (call $num (call $proxy_get_property ${module.text(property)} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $out)`;
  return module.build(`
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    ${read("response\0code")} ${read("response\0code_details")} ${read("response\0flags")})`);
}

describe("stream ends as proxy_on_log reads them", () => {
  it.each([
    ["1.28", 0],
    ["1.30", ResponseFlag.DownstreamRemoteReset],
    ["1.33", ResponseFlag.DownstreamRemoteReset],
  ] as Array<[string, number]>)(
    "an HTTP/2 client reset on Envoy %s: no response code, http2.remote_reset, flags %i",
    async (envoy, flags) => {
      const plugin = await Plugin.load({ wasm: endProbe(), envoy });
      const stream = plugin.createStream({ protocol: "HTTP/2" });
      stream.onRequestHeaders([[":path", "/"]], false);
      const mark = plugin.logs.length;
      stream.end(plugin.streamEnd("http2_client_reset"));
      expect(messages(plugin.logs.slice(mark))).toEqual([
        ...["1", "untouched"],
        ...["0", hex("http2.remote_reset")],
        ...["0", int64Hex(flags)],
      ]);
    },
  );

  it("the DR flag starts at 1.30; every other end is the same from 1.28", () => {
    const flagsOn = (minor: number) => envoyStreamEnd("http2_client_reset", minor).responseFlags;
    expect([28, 29, 30, 31, 33, 40].map(flagsOn)).toEqual([
      0, 0, 0x10000000, 0x10000000, 0x10000000, 0x10000000,
    ]);
    expect(envoyStreamEnd("upstream_timeout", 28)).toEqual(envoyStreamEnd("upstream_timeout", 33));
    expect(envoyStreamEnd("too_many_request_headers", 30)).toEqual({
      responseCode: 431,
      responseCodeDetails: "http1.too_many_headers",
      responseFlags: ResponseFlag.DownstreamProtocolError,
    });
  });

  it("reads Envoy versions as 1.MINOR and refuses what it cannot place", () => {
    expect(envoyMinorVersion("1.30")).toBe(30);
    expect(envoyMinorVersion("1.33.2")).toBe(33);
    expect(() => envoyMinorVersion("1.27")).toThrow("expected 1.MINOR with MINOR >= 28");
    expect(() => envoyMinorVersion("v1.30")).toThrow("Envoy version 'v1.30'");
  });
});

describe("request header limits", () => {
  const lines = (count: number, value = "v"): Array<[string, string]> =>
    Array.from({ length: count }, (_, i) => [`x-${i}`, value]);

  it("counts header lines against max_headers_count and names plus values against 60 KiB", () => {
    expect(requestHeaderLimitExceeded(lines(100))).toBeUndefined();
    expect(requestHeaderLimitExceeded(lines(101))).toBe("too_many_request_headers");
    expect(requestHeaderLimitExceeded([["x", "q".repeat(60 * 1024 - 1)]])).toBeUndefined();
    expect(requestHeaderLimitExceeded([["x", "q".repeat(60 * 1024)]])).toBe("request_headers_too_large");
    expect(requestHeaderLimitExceeded(lines(1100), { maxBytes: 60 * 1024, maxCount: 2000 })).toBeUndefined();
  });
});

/** The docs table's cells for a row, as docs/harness.md writes them. */
function documentedCells(row: StreamEndRow, rows: readonly StreamEndRow[]): string[] {
  const next = rows.find((other) => other.kind === row.kind && other.since > row.since);
  const versions = next === undefined ? `1.${row.since}+` : `1.${row.since}-1.${next.since - 1}`;
  const upstreamsCode = row.kind === "upstream_response" || row.kind === "upstream_reset_after_response";
  const code =
    row.responseCode !== undefined ? String(row.responseCode) : upstreamsCode ? "the upstream's" : "none";
  const flags =
    row.responseFlags === 0
      ? "-"
      : `${responseFlagsText(row.responseFlags)} (0x${row.responseFlags.toString(16)})`;
  return [
    `\`${row.kind}\``,
    versions,
    code,
    `\`${row.responseCodeDetails}\``,
    flags,
    row.filterSeesStream ? "yes" : "no",
  ];
}

describe("docs/harness.md", () => {
  it("lists every stream end exactly as the harness produces it, each with a source", () => {
    const text = readFileSync(path.join(ROOT, "docs/harness.md"), "utf8");
    const section = text.slice(text.indexOf("## Stream ends"), text.indexOf("## Request header limits"));
    const tableRows = section
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .map((line) =>
        line
          .slice(1, -1)
          .split(" | ")
          .map((cell) => cell.trim()),
      );
    expect(tableRows.map((cells) => cells.slice(0, 6))).toEqual(
      STREAM_END_ROWS.map((row) => documentedCells(row, STREAM_END_ROWS)),
    );
    for (const cells of tableRows) expect(cells[6]).toMatch(/^`source\/|^`envoy\//);
  });
});
