// The lowest floor: the SDK's allocator and empty ABI callbacks, no context objects at all. Our
// filter dispatches without the SDK's context classes, so this is the fair per-request baseline.
export { malloc } from "@solo-io/proxy-runtime/assembly/malloc";

// @ts-ignore: decorator
@global
export function abort_proc_exit(_message: string | null, _file: string | null, _line: u32, _column: u32): void {}

export function proxy_abi_version_0_2_0(): void {}
export function proxy_on_context_create(_contextId: u32, _rootContextId: u32): void {}
export function proxy_on_vm_start(_rootContextId: u32, _size: u32): u32 {
  return 1;
}
export function proxy_on_configure(_rootContextId: u32, _size: u32): u32 {
  return 1;
}
export function proxy_on_request_headers(_contextId: u32, _headers: u32, _endOfStream: u32): i32 {
  return 0;
}
export function proxy_on_response_headers(_contextId: u32, _headers: u32, _endOfStream: u32): i32 {
  return 0;
}
export function proxy_on_log(_contextId: u32): void {}
export function proxy_on_done(_contextId: u32): u32 {
  return 1;
}
export function proxy_on_delete(_contextId: u32): void {}
