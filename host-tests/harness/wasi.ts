// The WASI calls Envoy registers (under wasi_unstable and wasi_snapshot_preview1), with the
// behaviour of proxy-wasm-cpp-host's src/exports.cc: stdout/stderr become log lines, clocks come from
// the host, random_get is capped at 64 KiB, proc_exit only logs, files do not exist.

import { randomFillSync } from "node:crypto";

import { type HostFunction, type HostServices } from "./imports.js";
import { LogLevel } from "./types.js";

/** PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES. */
export const RANDOM_GET_MAX_BYTES = 64 * 1024;

const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_FAULT = 21;
const ERRNO_INVAL = 28;
const ERRNO_NOENT = 44;
const ERRNO_NOSYS = 52;
const ERRNO_NOTSUP = 58;

const STDOUT = 1;
const STDERR = 2;
/** __WASI_RIGHTS_FD_WRITE. */
const RIGHTS_FD_WRITE = 64n;

export interface WasiEnvironment {
  /** vm_config.environment_variables, in order. */
  env: Array<[string, string]>;
  /** What random_get fills its buffer with; default the system's random bytes. */
  randomBytes?: (into: Uint8Array) => void;
}

export function wasiHostFunctions(
  host: HostServices,
  environment: WasiEnvironment,
): Record<string, HostFunction> {
  const encoder = new TextEncoder();
  const envStrings = environment.env.map(([key, value]) => encoder.encode(`${key}=${value}\0`));
  const n = (value: number | bigint): number => Number(BigInt.asUintN(32, BigInt(value)));

  const writev = (fd: number, iovs: number, iovsLen: number): { errno: number; written: number } => {
    const level = fd === STDOUT ? LogLevel.Info : fd === STDERR ? LogLevel.Error : undefined;
    if (level === undefined) return { errno: ERRNO_BADF, written: 0 };
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < iovsLen; i++) {
      const base = host.memory.readU32(iovs + i * 8);
      const length = host.memory.readU32(iovs + i * 8 + 4);
      if (base === undefined || length === undefined) return { errno: ERRNO_FAULT, written: 0 };
      if (length === 0) continue;
      const chunk = host.memory.read(base, length);
      if (chunk === undefined) return { errno: ERRNO_FAULT, written: 0 };
      chunks.push(chunk);
    }
    const message = Buffer.concat(chunks).toString("utf8");
    const written = chunks.reduce((sum, c) => sum + c.length, 0);
    // One trailing newline is dropped from the log line.
    if (written > 0) host.log(level, message.endsWith("\n") ? message.slice(0, -1) : message);
    return { errno: ERRNO_SUCCESS, written };
  };

  return {
    fd_write(fd, iovs, iovsLen, writtenPtr) {
      const { errno, written } = writev(n(fd), n(iovs), n(iovsLen));
      if (errno !== ERRNO_SUCCESS) return errno;
      return host.memory.writeU32(n(writtenPtr), written) ? ERRNO_SUCCESS : ERRNO_FAULT;
    },
    fd_read() {
      return ERRNO_NOSYS;
    },
    fd_seek() {
      host.log(LogLevel.Trace, "wasi_unstable fd_seek");
      return ERRNO_SUCCESS;
    },
    fd_close() {
      host.log(LogLevel.Trace, "wasi_unstable fd_close");
      return ERRNO_SUCCESS;
    },
    fd_fdstat_get(fd, statPtr) {
      if (n(fd) !== STDOUT && n(fd) !== STDERR) return ERRNO_BADF;
      const stat = new Uint8Array(24);
      new DataView(stat.buffer).setBigUint64(8, RIGHTS_FD_WRITE, true);
      host.memory.write(n(statPtr), stat);
      return ERRNO_SUCCESS;
    },
    environ_get(arrayPtr, bufferPtr) {
      let pointer = n(arrayPtr);
      let buffer = n(bufferPtr);
      for (const entry of envStrings) {
        if (!host.memory.writeU32(pointer, buffer) || !host.memory.write(buffer, entry)) return ERRNO_FAULT;
        buffer += entry.length;
        pointer += 4;
      }
      return ERRNO_SUCCESS;
    },
    environ_sizes_get(countPtr, sizePtr) {
      const size = envStrings.reduce((sum, e) => sum + e.length, 0);
      if (!host.memory.writeU32(n(countPtr), envStrings.length)) return ERRNO_FAULT;
      return host.memory.writeU32(n(sizePtr), size) ? ERRNO_SUCCESS : ERRNO_FAULT;
    },
    args_get() {
      return ERRNO_SUCCESS;
    },
    args_sizes_get(argcPtr, bufferSizePtr) {
      if (!host.memory.writeU32(n(argcPtr), 0)) return ERRNO_FAULT;
      return host.memory.writeU32(n(bufferSizePtr), 0) ? ERRNO_SUCCESS : ERRNO_FAULT;
    },
    clock_time_get(clockId, _precision, resultPtr) {
      const id = n(clockId);
      if (id > 1) return ERRNO_NOTSUP;
      const now = id === 0 ? host.clock.realtimeNs() : host.clock.monotonicNs();
      return host.memory.writeU64(n(resultPtr), now) ? ERRNO_SUCCESS : ERRNO_FAULT;
    },
    random_get(bufferPtr, length) {
      const size = n(length);
      if (size > RANDOM_GET_MAX_BYTES) return ERRNO_INVAL;
      if (size === 0) return ERRNO_SUCCESS;
      const random = new Uint8Array(size);
      if (environment.randomBytes !== undefined) environment.randomBytes(random);
      else randomFillSync(random);
      return host.memory.write(n(bufferPtr), random) ? ERRNO_SUCCESS : ERRNO_FAULT;
    },
    proc_exit() {
      // Envoy logs and returns: the module keeps running (an AssemblyScript abort then traps).
      host.log(LogLevel.Trace, "wasi_unstable proc_exit");
    },
    path_open() {
      return ERRNO_NOENT;
    },
    fd_prestat_get() {
      return ERRNO_BADF;
    },
    fd_prestat_dir_name() {
      return ERRNO_NOSYS;
    },
  };
}
