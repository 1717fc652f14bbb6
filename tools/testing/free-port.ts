// The demo's engines need it too (tools/observe/), so it lives in production code.
export { freePort } from "../observe/ports.js";
