// The module's Proxy-Wasm ABI (0.2.0): entry points Envoy calls, dispatched to the root and stream
// contexts in filter.ts, on the host bound in host.ts. The SDK's own dispatcher is not used: it logs several lines per stream,
// builds strings per call, and traps when plugin_root_id is not the registered name (Istio sets it
// from WasmPlugin.pluginName). Here any root id works, and a callback for a context the module
// does not know is a no-op. Only the SDK's import declarations are used; the allocator the host
// calls is host.ts's.

import { ProxyWasmHost } from "./host";
import { garbageSinceCollection, resetGarbage } from "./garbage";
import { Root, Stream, Vm } from "./filter";
import { IdTable } from "./idtable";

export { malloc } from "./host";

const CONTINUE: i32 = 0;

const host = new ProxyWasmHost();
const vm = new Vm(host);
const roots = new IdTable<Root>();
const streams = new IdTable<Stream>();

// The stream found last: a stream's callbacks mostly follow one another, so most find it here
// without hashing (four callbacks per request).
let lastStreamId: u32 = 0;
let lastStream: Stream | null = null;

/** The stream context `id`, or null when the module does not know it. */
function streamOf(id: u32): Stream | null {
  if (lastStream != null && lastStreamId == id) return lastStream;
  const stream = streams.get(id);
  if (stream == null) return null;
  lastStreamId = id;
  lastStream = stream;
  return stream;
}

/** The root context `id`, made by whichever of context_create and configure reaches it first. */
function rootContext(id: u32): Root {
  const known = roots.get(id);
  if (known != null) return known;
  const root = new Root(vm);
  roots.set(id, root);
  return root;
}

export function proxy_abi_version_0_2_0(): void {}

export function proxy_on_context_create(contextId: u32, rootContextId: u32): void {
  if (rootContextId == 0) {
    rootContext(contextId);
    return;
  }
  const root = roots.get(rootContextId);
  if (root == null) return;
  const stream = root.createStream();
  if (stream == null) {
    if (lastStreamId == contextId) lastStream = null;
    return;
  }
  streams.set(contextId, stream);
  lastStreamId = contextId;
  lastStream = stream;
}

export function proxy_on_vm_start(_rootContextId: u32, _vmConfigurationSize: u32): u32 {
  vm.onVmStart();
  return 1;
}

export function proxy_on_configure(rootContextId: u32, configurationSize: u32): u32 {
  return rootContext(rootContextId).onConfigure(configurationSize) ? 1 : 0;
}

export function proxy_on_tick(rootContextId: u32): void {
  const root = roots.get(rootContextId);
  if (root != null) root.onTick();
  collectAtTick();
}

export function proxy_on_http_call_response(
  rootContextId: u32,
  token: u32,
  headers: u32,
  _bodySize: u32,
  _trailers: u32,
): void {
  const root = roots.get(rootContextId);
  if (root != null) root.onHttpCallResponse(token, headers);
}

export function proxy_on_request_headers(contextId: u32, _headers: u32, _endOfStream: u32): i32 {
  const stream = streamOf(contextId);
  const action = stream != null ? stream.onRequestHeaders() : CONTINUE;
  collectIfHeaderHeavy();
  return action;
}

export function proxy_on_response_headers(contextId: u32, _headers: u32, _endOfStream: u32): i32 {
  const stream = streamOf(contextId);
  const action = stream != null ? stream.onResponseHeaders() : CONTINUE;
  collectIfHeaderHeavy();
  return action;
}

export function proxy_on_log(contextId: u32): void {
  const stream = streamOf(contextId);
  if (stream != null) stream.onLog();
}

export function proxy_on_done(contextId: u32): u32 {
  const root = roots.get(contextId);
  return root == null || root.onDone() ? 1 : 0;
}

export function proxy_on_delete(contextId: u32): void {
  if (lastStreamId == contextId) lastStream = null;
  const stream = streams.delete(contextId);
  if (stream != null) stream.root.releaseStream(stream);
  else roots.delete(contextId);
  collectAtStreamEnd();
}

// Garbage collection. The module uses AssemblyScript's minimal runtime (asconfig.json): no
// automatic collection, so no shadow stack and no GC work inside callbacks (the incremental
// runtime's instrumentation nearly doubles the module). Instead the heap is collected here, at the
// end of a top-level callback where no managed reference is on the stack. A collection marks the
// live heap and sweeps every object made since the last one; the series tables are arrays of
// numbers (keytable.ts), so the live heap is a few hundred objects whatever the number of
// revisions, and marking it is most of a collection's cost (about 20 µs on the benchmark's
// machine). A common-case request leaves no garbage (its stream's object is reused, the streams'
// IdTable does not rebuild), so what a collection sweeps is what uncommon requests left (a new pod
// stamp decoded, a series found by name, a span made for export) and what a tick's own work left
// (a batch of spans encoded); garbage.ts counts them roughly, not all of what they leave.
//
// So the collection runs at a tick (every tickPeriodMs, 1 s by default, per root context), when
// a stream ended since the last one: a tick is no request's callback, where every 1,536th stream
// end used to pay it (0.065% of requests, at the p99.9 line of every path: README "Benchmarks").
// Two things still collect on the request path, so that memory stays bounded between ticks:
// GARBAGE_BYTES_PER_COLLECTION of counted garbage (garbage.ts: header text, series looked up by
// name, stamps decoded or encoded, spans made; past the cap, where every answer decodes a stamp
// and finds its series by name, about every 170 answers), and a worker ending more than
// MAX_STREAM_ENDS_BETWEEN_COLLECTIONS streams before its next tick (0.012% of requests at most; a
// backstop for garbage nothing counts).
const MAX_STREAM_ENDS_BETWEEN_COLLECTIONS: i32 = 8192;
let streamEndsSinceCollection: i32 = 0;

function collectAtStreamEnd(): void {
  if (
    ++streamEndsSinceCollection < MAX_STREAM_ENDS_BETWEEN_COLLECTIONS &&
    garbageSinceCollection() < GARBAGE_BYTES_PER_COLLECTION
  ) {
    return;
  }
  collect();
}

/** At a tick: whatever streams ended (or a tick's work counted) since the last collection. */
function collectAtTick(): void {
  if (streamEndsSinceCollection > 0 || garbageSinceCollection() > 0) collect();
}

/**
 * The minimal runtime never collects when an allocation fails: it grows memory, doubling it. So
 * garbage must not wait for stream ends, which open streams never reach: what garbage.ts counted
 * since the last collection (decoded header text, large host answers, strings built in place,
 * series found by name, stamps, spans: garbage.ts) is collected once it passes
 * GARBAGE_BYTES_PER_COLLECTION, checked after every header callback.
 */
const GARBAGE_BYTES_PER_COLLECTION: i64 = 1024 * 1024;

function collectIfHeaderHeavy(): void {
  if (garbageSinceCollection() >= GARBAGE_BYTES_PER_COLLECTION) collect();
}

function collect(): void {
  streamEndsSinceCollection = 0;
  resetGarbage();
  __collect();
}
