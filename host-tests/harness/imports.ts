// The `env.proxy_*` host calls, one function each, with proxy-wasm-cpp-host's argument checks
// (src/exports.cc) over Envoy's semantics (source/extensions/common/wasm/context.cc).

import {
  BUFFER_TYPE_MAX,
  HEADER_MAP_TYPE_MAX,
  StreamType,
  type BufferType,
  type ContextBase,
  type HeaderMapType,
} from "./context.js";
import { lowerCaseName } from "./headers.js";
import { type GuestMemory } from "./memory.js";
import { decodeHeaderPairs, PairsEncoder } from "./pairs.js";
import { getProperty, setProperty } from "./properties.js";
import { type SharedData, type SharedQueues } from "./shared-data.js";
import { type VmMetrics } from "./stats.js";
import { WasmResult, type Clock, type HeaderList, type LogLevel } from "./types.js";

/** A host function as the module calls it: i32 arguments arrive as numbers, i64 as bigints. */
export type HostFunction = (...args: Array<number | bigint>) => number | void;

/** What the host calls need from the VM that runs them. */
export interface HostServices {
  readonly memory: GuestMemory;
  /** contextOrEffectiveContext(). */
  context(): ContextBase;
  log(level: LogLevel, message: string): void;
  readonly logLevel: LogLevel;
  readonly clock: Clock;
  readonly metrics: VmMetrics;
  readonly sharedData: SharedData;
  readonly sharedQueues: SharedQueues;
  readonly vmId: string;
  setEffectiveContext(id: number): WasmResult;
  /** proxy_done: the root context finished its pending on_done. */
  done(): WasmResult;
  setTickPeriod(rootContextId: number, periodMs: number): void;
  /** send_local_response makes the current callback's status a stop (stopNextIteration). */
  stopNextIteration(): void;
  /** Deferred until the current call into the module returns (addAfterVmCallAction). */
  afterCurrentCall(action: () => void): void;
  httpCall(request: HttpCallRequest): { result: WasmResult; token: number };
  registerQueue(name: string): number;
}

export interface HttpCallRequest {
  cluster: string;
  headers: HeaderList;
  body: Uint8Array;
  trailers: HeaderList;
  timeoutMs: number;
}

const MAX_LOG_LEVEL = 5;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const GRPC_STATUS_MAX = 16;

function asU32(value: number | bigint): number {
  // i32 arguments arrive as integral numbers, for which >>> 0 is the same wrap without a BigInt.
  return typeof value === "number" ? value >>> 0 : Number(BigInt.asUintN(32, value));
}

export function proxyHostFunctions(host: HostServices): Record<string, HostFunction> {
  const memory = (): GuestMemory => host.memory;
  const read = (ptr: number | bigint, size: number | bigint): Uint8Array | undefined =>
    memory().read(asU32(ptr), asU32(size));
  const readText = (ptr: number | bigint, size: number | bigint): string | undefined =>
    memory().readString(asU32(ptr), asU32(size));
  const text = (bytes: Uint8Array): string => utf8Decoder.decode(bytes);
  const copyOut = (data: Uint8Array, ptrPtr: number | bigint, sizePtr: number | bigint): WasmResult =>
    memory().copyOut(data, asU32(ptrPtr), asU32(sizePtr)) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
  const validMapType = (type: number | bigint): boolean => asU32(type) <= HEADER_MAP_TYPE_MAX;

  const headerMapEdit = (
    type: number | bigint,
    keyPtr: number | bigint,
    keySize: number | bigint,
    valuePtr: number | bigint,
    valueSize: number | bigint,
    edit: "add" | "replace",
  ): number => {
    if (!validMapType(type)) return WasmResult.BadArgument;
    const key = readText(keyPtr, keySize);
    const value = readText(valuePtr, valueSize);
    if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
    const map = host.context().mutableHeaderMap(asU32(type) as HeaderMapType);
    if (map === undefined) return WasmResult.BadArgument;
    map[edit](key, value);
    return WasmResult.Ok;
  };

  const continueOrClose = (type: number | bigint, action: "continueStream" | "closeStream"): number => {
    const streamType = asU32(type);
    if (streamType > StreamType.Upstream) return WasmResult.BadArgument;
    return host.context()[action](streamType as StreamType);
  };

  return {
    proxy_log(level, ptr, size) {
      if (asU32(level) > MAX_LOG_LEVEL) return WasmResult.BadArgument;
      const message = readText(ptr, size);
      if (message === undefined) return WasmResult.InvalidMemoryAccess;
      host.log(asU32(level) as LogLevel, message);
      return WasmResult.Ok;
    },

    proxy_get_log_level(levelPtr) {
      return memory().writeU32(asU32(levelPtr), host.logLevel)
        ? WasmResult.Ok
        : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_status(codePtr, valuePtrPtr, valueSizePtr) {
      const status = host.context().rootContext.status;
      if (!memory().writeU32(asU32(codePtr), status.code)) return WasmResult.InvalidMemoryAccess;
      return copyOut(utf8Encoder.encode(status.message), valuePtrPtr, valueSizePtr);
    },

    proxy_get_property(pathPtr, pathSize, valuePtrPtr, valueSizePtr) {
      const path = read(pathPtr, pathSize);
      if (path === undefined) return WasmResult.InvalidMemoryAccess;
      const { result, bytes } = getProperty(path, host.context().propertyScope());
      if (result !== WasmResult.Ok || bytes === undefined) return result;
      return copyOut(bytes, valuePtrPtr, valueSizePtr);
    },

    proxy_set_property(pathPtr, pathSize, valuePtr, valueSize) {
      const path = read(pathPtr, pathSize);
      const value = read(valuePtr, valueSize);
      if (path === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
      return setProperty(path, value, host.context().propertyScope());
    },

    proxy_get_configuration(valuePtrPtr, valueSizePtr) {
      return copyOut(host.context().configuration(), valuePtrPtr, valueSizePtr);
    },

    proxy_continue_request() {
      return host.context().continueStream(StreamType.Request);
    },

    proxy_continue_response() {
      return host.context().continueStream(StreamType.Response);
    },

    proxy_continue_stream(type) {
      return continueOrClose(type, "continueStream");
    },

    proxy_close_stream(type) {
      return continueOrClose(type, "closeStream");
    },

    proxy_clear_route_cache() {
      return WasmResult.Ok;
    },

    proxy_send_local_response(
      code,
      detailsPtr,
      detailsSize,
      bodyPtr,
      bodySize,
      headersPtr,
      headersSize,
      grpc,
    ) {
      const details = read(detailsPtr, detailsSize);
      const body = read(bodyPtr, bodySize);
      const headerBytes = read(headersPtr, headersSize);
      if (details === undefined || body === undefined || headerBytes === undefined) {
        return WasmResult.InvalidMemoryAccess;
      }
      const context = host.context();
      const grpcStatus = Number(BigInt.asIntN(32, BigInt(grpc)));
      const reply = {
        status: asU32(code),
        // StringUtil::replaceAllEmptySpace: details never contain whitespace.
        details: text(details).replace(/\s/g, "_"),
        body,
        headers: decodeHeaderPairs(headerBytes).map(([k, v]): [string, string] => [lowerCaseName(k), v]),
        grpcStatus: grpcStatus >= 0 && grpcStatus <= GRPC_STATUS_MAX ? grpcStatus : -1,
      };
      host.afterCurrentCall(() => context.sendLocalResponse(reply));
      host.stopNextIteration();
      return WasmResult.Ok;
    },

    proxy_set_effective_context(contextId) {
      return host.setEffectiveContext(asU32(contextId));
    },

    proxy_done() {
      return host.done();
    },

    proxy_call_foreign_function(namePtr, nameSize, argsPtr, argsSize) {
      // Envoy registers no foreign functions for plain Wasm filters.
      if (read(namePtr, nameSize) === undefined || read(argsPtr, argsSize) === undefined) {
        return WasmResult.InvalidMemoryAccess;
      }
      return WasmResult.NotFound;
    },

    proxy_get_shared_data(keyPtr, keySize, valuePtrPtr, valueSizePtr, casPtr) {
      const key = readText(keyPtr, keySize);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const entry = host.sharedData.get(host.vmId, key);
      if (entry.result !== WasmResult.Ok || entry.value === undefined || entry.cas === undefined) {
        return entry.result;
      }
      const copied = copyOut(entry.value, valuePtrPtr, valueSizePtr);
      if (copied !== WasmResult.Ok) return copied;
      return memory().writeU32(asU32(casPtr), entry.cas) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_set_shared_data(keyPtr, keySize, valuePtr, valueSize, cas) {
      const key = readText(keyPtr, keySize);
      const value = read(valuePtr, valueSize);
      if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess;
      return host.sharedData.set(host.vmId, key, value, asU32(cas));
    },

    proxy_register_shared_queue(namePtr, nameSize, tokenPtr) {
      const name = readText(namePtr, nameSize);
      if (name === undefined) return WasmResult.InvalidMemoryAccess;
      const token = host.registerQueue(name);
      return memory().writeU32(asU32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_resolve_shared_queue(vmIdPtr, vmIdSize, namePtr, nameSize, tokenPtr) {
      const vmId = read(vmIdPtr, vmIdSize);
      const name = read(namePtr, nameSize);
      if (vmId === undefined || name === undefined) return WasmResult.InvalidMemoryAccess;
      const token = host.sharedQueues.resolve(vmId.length === 0 ? host.vmId : text(vmId), text(name));
      if (token === 0) return WasmResult.NotFound;
      return memory().writeU32(asU32(tokenPtr), token) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_dequeue_shared_queue(token, dataPtrPtr, dataSizePtr) {
      const entry = host.sharedQueues.dequeue(asU32(token));
      if (entry.result !== WasmResult.Ok || entry.value === undefined) return entry.result;
      return copyOut(entry.value, dataPtrPtr, dataSizePtr);
    },

    proxy_enqueue_shared_queue(token, dataPtr, dataSize) {
      const data = read(dataPtr, dataSize);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      return host.sharedQueues.enqueue(asU32(token), data);
    },

    proxy_get_header_map_value(type, keyPtr, keySize, valuePtrPtr, valueSizePtr) {
      if (!validMapType(type)) return WasmResult.BadArgument;
      const key = readText(keyPtr, keySize);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const context = host.context();
      const map = context.headerMap(asU32(type) as HeaderMapType);
      if (map === undefined) {
        // Maps may be absent in the access-log phase; elsewhere the map is "not available now".
        return context.inAccessLogPhase ? WasmResult.NotFound : WasmResult.BadArgument;
      }
      const value = map.get(key);
      if (value === undefined) return WasmResult.NotFound;
      return copyOut(utf8Encoder.encode(value), valuePtrPtr, valueSizePtr);
    },

    proxy_add_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      return headerMapEdit(type, keyPtr, keySize, valuePtr, valueSize, "add");
    },

    proxy_replace_header_map_value(type, keyPtr, keySize, valuePtr, valueSize) {
      return headerMapEdit(type, keyPtr, keySize, valuePtr, valueSize, "replace");
    },

    proxy_remove_header_map_value(type, keyPtr, keySize) {
      if (!validMapType(type)) return WasmResult.BadArgument;
      const key = readText(keyPtr, keySize);
      if (key === undefined) return WasmResult.InvalidMemoryAccess;
      const map = host.context().mutableHeaderMap(asU32(type) as HeaderMapType);
      if (map === undefined) return WasmResult.BadArgument;
      map.remove(key);
      return WasmResult.Ok;
    },

    proxy_get_header_map_pairs(type, ptrPtr, sizePtr) {
      if (!validMapType(type)) return WasmResult.BadArgument;
      const map = host.context().headerMap(asU32(type) as HeaderMapType);
      const pairs = map?.toList() ?? [];
      // An empty map is handed back as pointer 0 and size 0.
      const encoder = new PairsEncoder(pairs);
      const size = pairs.length === 0 ? 0 : encoder.size;
      return memory().writeOut(size, (target) => encoder.writeTo(target), asU32(ptrPtr), asU32(sizePtr))
        ? WasmResult.Ok
        : WasmResult.InvalidMemoryAccess;
    },

    proxy_set_header_map_pairs(type, ptr, size) {
      if (!validMapType(type)) return WasmResult.BadArgument;
      const data = read(ptr, size);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      const map = host.context().mutableHeaderMap(asU32(type) as HeaderMapType);
      if (map === undefined) return WasmResult.BadArgument;
      // Malformed pairs decode to an empty list, which clears the map (as in Envoy).
      map.setAll(decodeHeaderPairs(data));
      return WasmResult.Ok;
    },

    proxy_get_header_map_size(type, resultPtr) {
      if (!validMapType(type)) return WasmResult.BadArgument;
      const map = host.context().mutableHeaderMap(asU32(type) as HeaderMapType);
      if (map === undefined) return WasmResult.BadArgument;
      return memory().writeU32(asU32(resultPtr), map.byteSize())
        ? WasmResult.Ok
        : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_buffer_status(type, lengthPtr, flagsPtr) {
      if (asU32(type) > BUFFER_TYPE_MAX) return WasmResult.BadArgument;
      const buffer = host.context().buffer(asU32(type) as BufferType);
      if (buffer === undefined) return WasmResult.NotFound;
      if (!memory().writeU32(asU32(lengthPtr), buffer.bytes().length)) return WasmResult.InvalidMemoryAccess;
      return memory().writeU32(asU32(flagsPtr), 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_buffer_bytes(type, start, length, ptrPtr, sizePtr) {
      if (asU32(type) > BUFFER_TYPE_MAX) return WasmResult.BadArgument;
      const buffer = host.context().buffer(asU32(type) as BufferType);
      if (buffer === undefined) return WasmResult.NotFound;
      const from = asU32(start);
      let count = asU32(length);
      // Words are 32-bit in a wasm32 VM: start + length overflowing is BadArgument.
      if (from + count > 0xffffffff) return WasmResult.BadArgument;
      const bytes = buffer.bytes();
      if (from > bytes.length) count = 0;
      else if (from + count > bytes.length) count = bytes.length - from;
      return copyOut(bytes.slice(from, from + count), ptrPtr, sizePtr);
    },

    proxy_set_buffer_bytes(type, start, length, dataPtr, dataSize) {
      if (asU32(type) > BUFFER_TYPE_MAX) return WasmResult.BadArgument;
      const buffer = host.context().buffer(asU32(type) as BufferType);
      if (buffer === undefined) return WasmResult.NotFound;
      const data = read(dataPtr, dataSize);
      if (data === undefined) return WasmResult.InvalidMemoryAccess;
      return buffer.replace(asU32(start), asU32(length), data);
    },

    proxy_http_call(
      uriPtr,
      uriSize,
      headersPtr,
      headersSize,
      bodyPtr,
      bodySize,
      trailersPtr,
      trailersSize,
      timeout,
      tokenPtr,
    ) {
      const uri = read(uriPtr, uriSize);
      const body = read(bodyPtr, bodySize);
      const headerBytes = read(headersPtr, headersSize);
      const trailerBytes = read(trailersPtr, trailersSize);
      if (
        uri === undefined ||
        body === undefined ||
        headerBytes === undefined ||
        trailerBytes === undefined
      ) {
        return WasmResult.InvalidMemoryAccess;
      }
      // The token is written once up front to verify the pointer before anything starts.
      if (!memory().writeU32(asU32(tokenPtr), 0)) return WasmResult.InvalidMemoryAccess;
      const { result, token } = host.httpCall({
        cluster: text(uri),
        headers: decodeHeaderPairs(headerBytes),
        body,
        trailers: decodeHeaderPairs(trailerBytes),
        // Envoy takes the timeout as a C int: values above 2^31 - 1 are negative (BadArgument).
        timeoutMs: Number(BigInt.asIntN(32, BigInt(timeout))),
      });
      memory().writeU32(asU32(tokenPtr), token);
      return result;
    },

    proxy_grpc_call(servicePtr, serviceSize) {
      return grpcUnavailable(read(servicePtr, serviceSize));
    },

    proxy_grpc_stream(servicePtr, serviceSize) {
      return grpcUnavailable(read(servicePtr, serviceSize));
    },

    proxy_grpc_close() {
      return WasmResult.NotFound;
    },

    proxy_grpc_cancel() {
      return WasmResult.NotFound;
    },

    proxy_grpc_send() {
      return WasmResult.BadArgument;
    },

    proxy_set_tick_period_milliseconds(period) {
      host.setTickPeriod(host.context().rootContext.id, asU32(period));
      return WasmResult.Ok;
    },

    proxy_get_current_time_nanoseconds(resultPtr) {
      return memory().writeU64(asU32(resultPtr), host.clock.realtimeNs())
        ? WasmResult.Ok
        : WasmResult.InvalidMemoryAccess;
    },

    proxy_define_metric(type, namePtr, nameSize, idPtr) {
      const name = readText(namePtr, nameSize);
      if (name === undefined) return WasmResult.InvalidMemoryAccess;
      const { result, id } = host.metrics.define(asU32(type), name);
      if (result !== WasmResult.Ok) return result;
      return memory().writeU32(asU32(idPtr), id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_increment_metric(id, offset) {
      return host.metrics.increment(asU32(id), BigInt.asIntN(64, BigInt(offset)));
    },

    proxy_record_metric(id, value) {
      return host.metrics.record(asU32(id), BigInt.asUintN(64, BigInt(value)));
    },

    proxy_get_metric(id, resultPtr) {
      const { result, value } = host.metrics.get(asU32(id));
      if (result !== WasmResult.Ok) return result;
      return memory().writeU64(asU32(resultPtr), value) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },
  };
}

/**
 * The harness offers no gRPC clusters: Envoy answers a service that is neither a serialized
 * GrpcService nor a known cluster with ParseFailure.
 */
function grpcUnavailable(service: Uint8Array | undefined): number {
  return service === undefined ? WasmResult.InvalidMemoryAccess : WasmResult.ParseFailure;
}
