import { parseArgs, stringFlag } from "./args.js";
import { EXIT_OK, type Command } from "./command.js";
import { isInteractive, Progress, style } from "./output.js";
import { FORMAT_HELP, formatFlag, MODULE_FLAGS, loadImage, reportFailure } from "./package.js";
import { repositoryScope } from "../oci/auth.js";
import { pushImage, manifestReference, type PushEvent } from "../oci/push.js";
import { ociUrl } from "../oci/reference.js";
import { RegistryClient } from "../oci/registry-client.js";
import type { RetryNotice } from "../oci/retry.js";
import {
  CREDENTIALS_NOTE,
  referenceArgument,
  registryAccess,
  retryPolicy,
  REGISTRY_FLAGS,
  REGISTRY_FLAGS_USAGE,
} from "./registry-flags.js";

function shortDigest(digest: string): string {
  return digest.slice(0, "sha256:".length + 12);
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** One progress-bar line for a blob upload, e.g. `sha256:0123456789ab [######----] 60% 12.0/20.0 KiB`. */
export function renderTransfer(digest: string, sentBytes: number, totalBytes: number, width = 24): string {
  const fraction = totalBytes === 0 ? 1 : Math.min(1, sentBytes / totalBytes);
  const filled = Math.round(fraction * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  const percent = `${Math.round(fraction * 100)}%`.padStart(4);
  return `${shortDigest(digest)} [${bar}] ${percent} ${(sentBytes / 1024).toFixed(1)}/${kib(totalBytes)}`;
}

/** What a person (or a log) sees for each push step; byte progress only on a terminal. */
export function describeEvent(event: PushEvent): string {
  switch (event.kind) {
    case "blob-exists":
      return `${shortDigest(event.digest)} already in the registry (${kib(event.size)})`;
    case "blob-progress":
      return renderTransfer(event.digest, event.sentBytes, event.totalBytes);
    case "blob-uploaded":
      return `${shortDigest(event.digest)} uploaded (${kib(event.size)})`;
    case "manifest-exists":
      return `manifest ${shortDigest(event.digest)} already tagged ${event.reference}`;
    case "manifest-pushed":
      return `manifest ${shortDigest(event.digest)} pushed as ${event.reference}`;
  }
}

export function describeRetry(notice: RetryNotice): string {
  return `attempt ${notice.attempt}/${notice.attempts} failed (${notice.reason}); retrying in ${notice.delayMs} ms`;
}

export const pushCommand: Command = {
  name: "push",
  summary: "package the filter and push it to an OCI registry; print its oci:// URL and sha256",
  usage: [
    "Usage: kwt push REF [--format artifact|compat] [--wasm FILE] [--retries N]",
    "                [--plain-http | --insecure | --ca-file PEM] [--username U --password-stdin]",
    "",
    "Packages the module (as 'kwt package' does) and pushes it with the OCI distribution API:",
    "blobs the registry already has are skipped, the rest uploaded, then the manifest is put",
    "(skipped too when REF's tag already points at the same digest).",
    "",
    "REF: [oci://]HOST[:PORT]/REPOSITORY[:TAG][@sha256:HEX]   e.g. 127.0.0.1:5000/kwt/filter:v1",
    "     TAG defaults to 'latest' (which Istio re-pulls on every change: prefer a version tag).",
    "     Without a HOST (no '.', ':' or localhost before the first '/') REF means Docker Hub,",
    "     as for docker; kwt warns when it does.",
    "",
    "Options:",
    FORMAT_HELP,
    REGISTRY_FLAGS_USAGE,
    "",
    CREDENTIALS_NOTE,
    "",
    "Prints to stdout, one key=value per line:",
    "  url=oci://HOST/REPOSITORY:TAG   (WasmPlugin.url)",
    "  digest=sha256:HEX",
    "  sha256=HEX                      (WasmPlugin.sha256: the manifest digest)",
    "Progress goes to stderr. Exit codes: 0 pushed, 1 failed (registry, network, credentials,",
    "module), 2 bad command line.",
  ].join("\n"),
  flags: { ...MODULE_FLAGS, ...REGISTRY_FLAGS },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const ref = referenceArgument("push", args);
    const format = formatFlag(args);
    const retry = retryPolicy(args);
    const progress = new Progress(process.stderr);
    const interactive = isInteractive(process.stderr);
    try {
      const access = await registryAccess(args, ref);
      const image = await loadImage(format, stringFlag(args, "wasm"));
      const reference = manifestReference(ref, image.manifestDescriptor.digest);
      const client = new RegistryClient(ref, {
        ...access,
        scopes: [repositoryScope(ref.repository, ["pull", "push"])],
        retry,
        onRetry: (notice) => {
          // a line of its own, kept on a terminal too: a retry is worth seeing afterwards
          progress.done();
          console.error(style(describeRetry(notice), "yellow", process.stderr));
        },
      });
      const result = await pushImage(client, image, reference, (event) => {
        if (event.kind === "blob-progress" && !interactive) return;
        progress.step(describeEvent(event));
      });
      progress.done();
      // A REF with only a digest stays a digest URL; otherwise the tag pushed (maybe the default).
      const url = ociUrl({ ...ref, tag: ref.digest && !ref.tag ? undefined : reference });
      if (interactive) {
        const what =
          result.uploadedBlobs.length === 0 && !result.manifestUploaded
            ? "nothing new: the registry had every blob and the tag"
            : `${result.uploadedBlobs.length} of ${image.blobs.size} blobs uploaded, manifest ${result.manifestUploaded ? "put" : "unchanged"}`;
        console.error(style(`pushed ${url} (${what})`, "green", process.stderr));
      }
      console.log(`url=${url}`);
      console.log(`digest=${result.digest}`);
      console.log(`sha256=${result.digest.slice("sha256:".length)}`);
      return EXIT_OK;
    } catch (error) {
      progress.done();
      return reportFailure("push", error);
    }
  },
};
