// The benchmark floor: a filter that does nothing, built with the same SDK and compiler options as
// ours, dispatching through the SDK's own context classes.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { Context, RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";

class NoopRoot extends RootContext {
  createContext(contextId: u32): Context {
    return new Context(contextId, this);
  }
}

registerRootContext((contextId: u32) => new NoopRoot(contextId), "kwt");
