// as-pect runs the pure AssemblyScript modules, and the glue through an in-memory Host
// (assembly/__tests__/fakehost.ts), under its own test host; host.ts and index.ts are not compiled.
export default {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
