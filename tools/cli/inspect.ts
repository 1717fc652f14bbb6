import { checkProxyWasmModule, ModuleRefusedError } from "../../host-tests/harness/index.js";
import { sha256Digest } from "../oci/layout.js";
import { pullModule } from "../oci/pull.js";
import { ociUrl } from "../oci/reference.js";
import { parseArgs } from "./args.js";
import { OUTPUT_FLAGS, outputFormat, writeReportDocument } from "./cluster-report.js";
import { EXIT_OK, type Command } from "./command.js";
import { reportFailure } from "./package.js";
import {
  CREDENTIALS_NOTE,
  referenceArgument,
  registryAccess,
  retryPolicy,
  REGISTRY_FLAGS,
  REGISTRY_FLAGS_USAGE,
} from "./registry-flags.js";

/** What `kwt inspect` reports (also its -o json|yaml document, docs/cli.md). */
export interface InspectReport {
  url: string;
  /** The manifest digest; WasmPlugin.sha256 is its hex part. */
  digest: string;
  sha256: string;
  format: string;
  manifestMediaType: string;
  module: {
    size: number;
    /** sha256 of the module bytes istio-agent extracts and hands to Envoy. */
    sha256: string;
    /** The Proxy-Wasm ABI version it exports, or why Envoy would refuse it. */
    abi?: string;
    refused?: string;
  };
}

export function renderInspectText(report: InspectReport): string {
  const rows: [string, string][] = [
    ["url", report.url],
    ["digest", report.digest],
    ["sha256", `${report.sha256}  (WasmPlugin.sha256)`],
    ["format", `${report.format}  (${report.manifestMediaType})`],
    ["module", `${report.module.size} bytes, sha256:${report.module.sha256}`],
    ["abi", report.module.abi ?? `refused: ${report.module.refused}`],
  ];
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n");
}

export const inspectCommand: Command = {
  name: "inspect",
  summary: "pull an image as istio-agent does; print its digest, format, and the module's size and sha256",
  usage: [
    "Usage: kwt inspect REF [-o json|yaml] [--plain-http | --insecure | --ca-file PEM]",
    "                   [--username U --password-stdin] [--retries N]",
    "",
    "Fetches REF's manifest and module the way istio-agent does before Envoy loads a WasmPlugin",
    "(the manifest digest it compares WasmPlugin.sha256 with; the format it detects: artifact,",
    "compat or docker; the module it extracts) and prints them, with the Proxy-Wasm ABI version",
    "the module exports, or why Envoy would refuse it. Changes nothing.",
    "",
    "REF: [oci://]HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX]",
    "",
    "Options:",
    "  -o, --output FORMAT  table (default: one 'key  value' per line), json or yaml",
    REGISTRY_FLAGS_USAGE,
    "",
    CREDENTIALS_NOTE,
    "",
    "Exit codes: 0 inspected (even when Envoy would refuse the module: see abi), 1 the image",
    "cannot be fetched or is in no format istio-agent accepts, 2 bad command line.",
  ].join("\n"),
  flags: { ...OUTPUT_FLAGS, ...REGISTRY_FLAGS },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const format = outputFormat(args);
    const ref = referenceArgument("inspect", args);
    const retry = retryPolicy(args);
    try {
      const access = await registryAccess(args, ref);
      const pulled = await pullModule(ref, { ...access, retry });
      let abi: string | undefined;
      let refused: string | undefined;
      try {
        abi = await checkProxyWasmModule(pulled.module);
      } catch (error) {
        if (!(error instanceof ModuleRefusedError)) throw error;
        refused = error.message;
      }
      const report: InspectReport = {
        url: ociUrl(ref),
        digest: pulled.digest,
        sha256: pulled.digest.slice("sha256:".length),
        format: pulled.format,
        manifestMediaType: pulled.manifest.mediaType ?? "(none)",
        module: {
          size: pulled.module.length,
          sha256: sha256Digest(pulled.module).slice("sha256:".length),
          ...(abi ? { abi } : {}),
          ...(refused ? { refused } : {}),
        },
      };
      if (format === "table") console.log(renderInspectText(report));
      else writeReportDocument(format, "inspect", { image: report });
      return EXIT_OK;
    } catch (error) {
      return reportFailure("inspect", error);
    }
  },
};
