// Shared key/value data and shared queues: one store per proxy, visible to every VM (worker) of the
// same vm_id, as proxy-wasm-cpp-host's process-wide SharedData / SharedQueue.

import { WasmResult } from "./types.js";

export class SharedData {
  private readonly data = new Map<string, { value: Uint8Array; cas: number }>();
  private nextCas = 1;

  private key(vmId: string, key: string): string {
    return `${vmId}\0${key}`;
  }

  get(vmId: string, key: string): { result: WasmResult; value?: Uint8Array; cas?: number } {
    const entry = this.data.get(this.key(vmId, key));
    if (entry === undefined) return { result: WasmResult.NotFound };
    return { result: WasmResult.Ok, value: entry.value, cas: entry.cas };
  }

  /** cas 0 always writes; any other cas must match the stored one (else CasMismatch). */
  set(vmId: string, key: string, value: Uint8Array, cas: number): WasmResult {
    const id = this.key(vmId, key);
    const entry = this.data.get(id);
    if (entry !== undefined && cas !== 0 && cas !== entry.cas) return WasmResult.CasMismatch;
    this.data.set(id, { value: value.slice(), cas: this.takeCas() });
    return WasmResult.Ok;
  }

  private takeCas(): number {
    const cas = this.nextCas;
    // 0 is not a valid CAS value; wrap past it like the uint32 counter does.
    this.nextCas = this.nextCas === 0xffffffff ? 1 : this.nextCas + 1;
    return cas;
  }
}

/** Who gets proxy_on_queue_ready when data arrives. */
export type QueueReadyTarget = (token: number) => void;

export class SharedQueues {
  private readonly tokens = new Map<string, number>();
  private readonly queues = new Map<number, { items: Uint8Array[]; notify: QueueReadyTarget }>();
  private nextToken = 1;

  /** Registering again keeps queued data and moves the notification to the new registrant. */
  register(vmId: string, name: string, notify: QueueReadyTarget): number {
    const key = `${vmId}\0${name}`;
    let token = this.tokens.get(key);
    if (token === undefined) {
      token = this.nextToken++;
      this.tokens.set(key, token);
    }
    const existing = this.queues.get(token);
    this.queues.set(token, { items: existing?.items ?? [], notify });
    return token;
  }

  /** 0 when unknown (the caller answers NotFound). */
  resolve(vmId: string, name: string): number {
    return this.tokens.get(`${vmId}\0${name}`) ?? 0;
  }

  dequeue(token: number): { result: WasmResult; value?: Uint8Array } {
    const queue = this.queues.get(token);
    if (queue === undefined) return { result: WasmResult.NotFound };
    const value = queue.items.shift();
    return value === undefined ? { result: WasmResult.Empty } : { result: WasmResult.Ok, value };
  }

  enqueue(token: number, value: Uint8Array): WasmResult {
    const queue = this.queues.get(token);
    if (queue === undefined) return WasmResult.NotFound;
    queue.items.push(value.slice());
    queue.notify(token);
    return WasmResult.Ok;
  }
}
