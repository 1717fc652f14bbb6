import { readFile } from "node:fs/promises";
import path from "node:path";
import { checkProxyWasmModule, ModuleRefusedError } from "../../host-tests/harness/index.js";
import { noPositionals, parseArgs, stringFlag, UsageError, type ParsedArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { style } from "./output.js";
import {
  DEFAULT_PACKAGE_FORMAT,
  layoutFiles,
  packageModule,
  PACKAGE_FORMATS,
  type PackageFormat,
  type PackagedImage,
} from "../oci/layout.js";
import { readLayoutManifests, writeLayout } from "../oci/layout-dir.js";
import { TAG, TAG_RULE } from "../oci/reference.js";

export const FORMAT_HELP = [
  "  --format artifact|compat",
  "                 artifact (default): the module byte for byte as one layer plus a",
  "                 runtime-config layer (media types application/vnd.module.wasm.*);",
  "                 compat: one gzip'd tar layer holding plugin.wasm, a plain container",
  "                 image for registries or tools that take nothing else. Istio accepts both.",
  "  --wasm FILE    the module (default: build/filter.wasm; 'npm run build' makes it)",
].join("\n");

/** --format and --wasm, shared by `kwt package` and `kwt push`. */
export const MODULE_FLAGS = { format: "string", wasm: "string" } as const;

export function formatFlag(args: ParsedArgs): PackageFormat {
  const format = stringFlag(args, "format") ?? DEFAULT_PACKAGE_FORMAT;
  if (!(PACKAGE_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${PACKAGE_FORMATS.join(", ")}, got '${format}'`);
  }
  return format as PackageFormat;
}

/**
 * The module `given` by --wasm (or build/filter.wasm) packaged in `format`, refused when it is not
 * a Proxy-Wasm module Envoy would load (the same checks `kwt run` makes).
 */
export async function loadImage(format: PackageFormat, given: string | undefined): Promise<PackagedImage> {
  const file = given ? path.resolve(given) : path.join(projectRoot(), "build", "filter.wasm");
  let module: Uint8Array;
  try {
    module = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = given ? "check --wasm" : "run 'npm run build' first, or pass --wasm FILE";
    throw new Error(`cannot read ${file} (${code ?? (error as Error).message}): ${hint}`);
  }
  const source = path.relative(process.cwd(), file) || file;
  const image = packageModule(module, format, source);
  try {
    await checkProxyWasmModule(module);
  } catch (error) {
    if (error instanceof ModuleRefusedError)
      throw new Error(`${source} is not a Proxy-Wasm module Envoy would load: ${error.message}`);
    throw error;
  }
  return image;
}

/**
 * Prints a package or push failure after the command name (red on a terminal); returns
 * EXIT_FAILURE. A usage error passes through (exit 2).
 */
export function reportFailure(command: string, error: unknown): number {
  if (error instanceof UsageError) throw error;
  const message = error instanceof Error ? error.message : String(error);
  console.error(`${style(`kwt ${command}:`, "red", process.stderr)} ${message}`);
  return EXIT_FAILURE;
}

export const packageCommand: Command = {
  name: "package",
  summary: "write the filter as an OCI image layout (artifact or compat format); print the manifest digest",
  usage: [
    "Usage: kwt package [--format artifact|compat] [--out DIR] [--wasm FILE] [--tag NAME]",
    "",
    "Packages the Wasm module as an OCI image istio-agent can pull and writes it as an OCI",
    "image layout (oci-layout, index.json, blobs/sha256/...). Reproducible: the same module",
    "gives the same manifest digest on any machine (no timestamps, fixed tar header, stored gzip).",
    "",
    "Options:",
    FORMAT_HELP,
    "  --out DIR      the layout directory (default: build/oci); an existing layout is",
    "                 updated, any other non-empty directory is refused",
    "  --tag NAME     the image's name in index.json (default: latest); names the",
    "                 layout already has stay, so one layout can hold several tags",
    "",
    "Prints to stdout, one key=value per line:",
    "  layout=DIR  digest=sha256:HEX  sha256=HEX (the value for WasmPlugin.sha256)",
    "Exit codes: 0 written, 1 failed (unreadable module, not a Proxy-Wasm module Envoy would",
    "load, unwritable directory),",
    "2 bad command line.",
    "",
    "Copy the layout to a registry with 'kwt push' or e.g. 'skopeo copy oci:DIR:NAME docker://...'.",
  ].join("\n"),
  flags: { ...MODULE_FLAGS, out: "string", tag: "string" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    noPositionals(args);
    const format = formatFlag(args);
    const tag = stringFlag(args, "tag") ?? "latest";
    if (!TAG.test(tag)) throw new UsageError(`--tag '${tag}' is not a valid tag (${TAG_RULE})`);
    const out = path.resolve(stringFlag(args, "out") ?? path.join(projectRoot(), "build", "oci"));
    try {
      const image = await loadImage(format, stringFlag(args, "wasm"));
      await writeLayout(out, layoutFiles(image, tag, await readLayoutManifests(out)));
      const digest = image.manifestDescriptor.digest;
      console.log(`layout=${out}`);
      console.log(`digest=${digest}`);
      console.log(`sha256=${digest.slice("sha256:".length)}`);
      return EXIT_OK;
    } catch (error) {
      return reportFailure("package", error);
    }
  },
};
