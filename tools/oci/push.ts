/**
 * Pushing a packaged image with the OCI distribution API: HEAD each blob and upload only the
 * missing ones (POST an upload session, PUT the bytes with their digest), then PUT the manifest
 * unless the tag already points at the same digest. Pushing the same image twice sends no bytes.
 */
import { MEDIA_TYPES, type PackagedImage } from "./layout.js";
import { RegistryClient, RegistryError, describeResponse, type RegistryResponse } from "./registry-client.js";

export type PushEvent =
  | { kind: "blob-exists"; digest: string; size: number }
  | { kind: "blob-progress"; digest: string; sentBytes: number; totalBytes: number }
  | { kind: "blob-uploaded"; digest: string; size: number }
  | { kind: "manifest-exists"; digest: string; reference: string }
  | { kind: "manifest-pushed"; digest: string; reference: string };

export interface PushResult {
  /** The manifest digest, `sha256:<hex>`: the hex part is WasmPlugin.sha256. */
  digest: string;
  /** The tag (or digest) the manifest was put under. */
  reference: string;
  uploadedBlobs: string[];
  existingBlobs: string[];
  manifestUploaded: boolean;
}

/** The tag or digest to PUT the manifest under; a digest in REF must be the image's own. */
export function manifestReference(ref: { tag?: string; digest?: string }, manifestDigest: string): string {
  if (ref.digest && ref.digest !== manifestDigest) {
    throw new Error(
      `the reference asks for ${ref.digest} but the packaged manifest is ${manifestDigest}; drop '@${ref.digest}' or push a tag`,
    );
  }
  return ref.tag ?? ref.digest ?? "latest";
}

function fail(what: string, response: RegistryResponse): never {
  throw new RegistryError(`${what}: ${describeResponse(response)}`, response.status);
}

function headerValue(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function blobExists(client: RegistryClient, digest: string): Promise<boolean> {
  const response = await client.request("HEAD", client.url(`blobs/${digest}`));
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  return fail(`checking blob ${digest} in ${client.ref.repository}`, response);
}

async function uploadBlob(
  client: RegistryClient,
  digest: string,
  content: Uint8Array,
  onEvent: (event: PushEvent) => void,
): Promise<void> {
  // The session and the PUT are retried together: a session may not survive a failed PUT.
  await client.retrying(async () => {
    const start = await client.send("POST", client.url("blobs/uploads/"));
    if (start.status !== 202) fail(`starting the upload of ${digest} to ${client.ref.repository}`, start);
    const location = headerValue(start, "location");
    if (!location)
      throw new RegistryError(`the registry opened an upload for ${digest} without a Location`, start.status);
    const target = new URL(location, start.url);
    target.searchParams.set("digest", digest);
    const put = await client.send("PUT", target, {
      headers: { "content-type": "application/octet-stream" },
      body: content,
      onProgress: (sentBytes, totalBytes) =>
        onEvent({ kind: "blob-progress", digest, sentBytes, totalBytes }),
    });
    if (put.status !== 201) fail(`uploading ${digest}`, put);
    const stored = headerValue(put, "docker-content-digest");
    if (stored && stored !== digest) {
      throw new RegistryError(`the registry stored blob ${digest} as ${stored}`, put.status);
    }
  });
}

export async function pushImage(
  client: RegistryClient,
  image: PackagedImage,
  reference: string,
  onEvent: (event: PushEvent) => void = () => {},
): Promise<PushResult> {
  const digest = image.manifestDescriptor.digest;
  const result: PushResult = {
    digest,
    reference,
    uploadedBlobs: [],
    existingBlobs: [],
    manifestUploaded: false,
  };
  for (const [blobDigest, content] of image.blobs) {
    if (await blobExists(client, blobDigest)) {
      result.existingBlobs.push(blobDigest);
      onEvent({ kind: "blob-exists", digest: blobDigest, size: content.length });
      continue;
    }
    await uploadBlob(client, blobDigest, content, onEvent);
    result.uploadedBlobs.push(blobDigest);
    onEvent({ kind: "blob-uploaded", digest: blobDigest, size: content.length });
  }

  const manifestUrl = client.url(`manifests/${reference}`);
  const accept = { accept: MEDIA_TYPES.ociManifest };
  const current = await client.request("HEAD", manifestUrl, { headers: accept });
  if (current.status === 200 && headerValue(current, "docker-content-digest") === digest) {
    onEvent({ kind: "manifest-exists", digest, reference });
    return result;
  }
  if (current.status !== 200 && current.status !== 404)
    fail(`checking ${client.ref.repository}:${reference}`, current);

  const put = await client.request("PUT", manifestUrl, {
    headers: { "content-type": MEDIA_TYPES.ociManifest },
    body: image.manifest,
  });
  if (put.status !== 201) fail(`putting the manifest of ${client.ref.repository}:${reference}`, put);
  const stored = headerValue(put, "docker-content-digest");
  if (stored && stored !== digest) {
    throw new RegistryError(
      `the registry stored the manifest as ${stored}, not ${digest} (it rewrote it); WasmPlugin.sha256 would not match`,
      put.status,
    );
  }
  result.manifestUploaded = true;
  onEvent({ kind: "manifest-pushed", digest, reference });
  return result;
}
