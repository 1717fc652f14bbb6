// The module's exports: the SDK's ABI entry points and allocator, plus our root context factory.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { registerRootContext } from "@solo-io/proxy-runtime/assembly";
import { TelemetryRoot, ROOT_ID } from "./filter";

registerRootContext((contextId: u32) => new TelemetryRoot(contextId), ROOT_ID);
