// Random ids for traces and spans and random numbers for the sampler, from the host's random bytes
// (WASI random_get: the only randomness Envoy offers a module, no Math.random). Bytes are drawn in
// blocks so a request costs no host call most of the time.

import { Host } from "./hostinterface";
import { IdSource } from "./traceplan";
import { writeHexId, TRACE_ID_HEX_LENGTH, SPAN_ID_HEX_LENGTH } from "./tracecontext";
import { uniformFromBits } from "./sampler";

/** Bytes fetched per random_get call (Envoy allows up to 64 KiB). */
const POOL_BYTES: i32 = 1024;
const pool = memory.data(POOL_BYTES);
let poolUsed: i32 = POOL_BYTES;
/** State of the fallback generator, only used if the host ever refuses random_get. */
let fallbackState: u64 = 0x9e3779b97f4a7c15;

/** SplitMix64 step: keeps ids distinct and non-constant if random_get fails; never the normal path. */
function fallbackFill(): void {
  for (let i = 0; i < POOL_BYTES; i += 8) {
    fallbackState += 0x9e3779b97f4a7c15;
    let z = fallbackState ^ load<u64>(pool + i);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    store<u64>(pool + i, z ^ (z >> 31));
  }
}

/** The address of `count` (<= POOL_BYTES) fresh random bytes, valid until the next call. */
function take(host: Host, count: i32): usize {
  if (poolUsed + count > POOL_BYTES) {
    if (!host.randomBytes(pool, POOL_BYTES)) fallbackFill();
    poolUsed = 0;
  }
  const at = pool + poolUsed;
  poolUsed += count;
  return at;
}

/** Ids and numbers from the VM's pool of host random bytes. */
export class HostRandomIds extends IdSource {
  constructor(private readonly host: Host) {
    super();
  }

  writeTraceId(at: usize): void {
    writeHexId(at, take(this.host, TRACE_ID_HEX_LENGTH / 2), TRACE_ID_HEX_LENGTH / 2);
  }

  writeSpanId(at: usize): void {
    writeHexId(at, take(this.host, SPAN_ID_HEX_LENGTH / 2), SPAN_ID_HEX_LENGTH / 2);
  }

  uniform(): f64 {
    return uniformFromBits(load<u32>(take(this.host, 4)));
  }
}
