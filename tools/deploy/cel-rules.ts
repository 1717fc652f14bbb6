/**
 * The CEL rules (`x-kubernetes-validations`) of the shipped Istio CRDs, implemented in TypeScript.
 *
 * kwt has no CEL interpreter: each rule it may meet is written out here, keyed by its text. A rule
 * not in this table is reported as a violation ("kwt cannot evaluate it") instead of being skipped,
 * so a schema update that brings a new rule fails loudly until the rule is added here.
 */

type RuleCheck = (self: unknown) => boolean;

/** Rule texts differ between Istio releases only in quoting and line breaks. */
export function normalizeCelRule(rule: string): string {
  return rule.replace(/'/g, '"').replace(/\s+/g, "");
}

function has(self: unknown, field: string): boolean {
  return isRecord(self) && self[field] !== undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const ALLOWED_URL_SCHEMES = ["", "http", "https", "oci", "file"];

/** Characters Go's net/url accepts unescaped in a host (`shouldEscape` in host mode). */
const HOST_CHARACTER = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"%]*$/;

/**
 * The scheme of `text` if Go's `url.ParseRequestURI` accepts it (that is CEL's `isURL` and `url`),
 * else undefined. Follows Go's parser for what these rules can see: scheme syntax (lower-cased),
 * opaque URLs, the request-URI rule that a scheme-less URL must be an absolute path, control
 * characters, the host's character set and port, and `%` escapes.
 */
export function requestUriScheme(text: string): string | undefined {
  if (
    text === "" ||
    [...text].some((character) => character.charCodeAt(0) < 0x20 || character === "\u007f")
  ) {
    return undefined;
  }
  let scheme = "";
  let rest = text;
  const schemeEnd = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(text);
  if (schemeEnd) {
    scheme = schemeEnd[0].slice(0, -1).toLowerCase();
    rest = text.slice(schemeEnd[0].length);
  } else if (text.startsWith(":")) {
    return undefined; // "missing protocol scheme"
  }
  if (!rest.startsWith("/")) return scheme === "" ? undefined : scheme; // opaque, or "invalid URI for request"
  if (scheme !== "" && rest.startsWith("//")) {
    const authorityEnd = rest.indexOf("/", 2);
    const authority = rest.slice(2, authorityEnd === -1 ? undefined : authorityEnd);
    const host = authority.slice(authority.lastIndexOf("@") + 1);
    if (!HOST_CHARACTER.test(host)) return undefined;
    const port = /\]?:([^\]]*)$/.exec(host.startsWith("[") ? host.slice(host.indexOf("]")) : host);
    if (port && !/^\d*$/.test(port[1]!)) return undefined;
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(rest)) return undefined;
  return scheme;
}

function urlSchemeAllowed(self: unknown): boolean {
  if (typeof self !== "string") return false;
  const direct = requestUriScheme(self);
  if (direct !== undefined) return ALLOWED_URL_SCHEMES.includes(direct);
  const viaHttp = requestUriScheme(`http://${self}`);
  return viaHttp !== undefined && ALLOWED_URL_SCHEMES.includes(viaHttp);
}

function keys(self: unknown): string[] {
  return isRecord(self) ? Object.keys(self) : [];
}

/** Each rule as the CRDs write it (any release's quoting), with what it means. */
const RULES: { rule: string; check: RuleCheck }[] = [
  {
    rule: "isURL(self) ? (url(self).getScheme() in ['', 'http', 'https', 'oci', 'file']) : (isURL('http://' + self) && url('http://' +self).getScheme() in ['', 'http', 'https', 'oci', 'file'])",
    check: urlSchemeAllowed,
  },
  {
    rule: "(has(self.valueFrom) ? self.valueFrom : '') != 'HOST' || !has(self.value)",
    check: (self) => !(isRecord(self) && self.valueFrom === "HOST" && has(self, "value")),
  },
  { rule: '!self.contains("*")', check: (self) => typeof self === "string" && !self.includes("*") },
  {
    rule: 'self.all(key, !key.contains("*"))',
    check: (self) => keys(self).every((key) => !key.includes("*")),
  },
  { rule: "self.all(key, key.size() != 0)", check: (self) => keys(self).every((key) => key.length !== 0) },
  {
    rule: "self.size() == 0",
    check: (self) => (typeof self === "string" || Array.isArray(self) ? self.length === 0 : false),
  },
  {
    rule: "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
    check: (self) => ["selector", "targetRef", "targetRefs"].filter((field) => has(self, field)).length <= 1,
  },
];

const RULES_BY_TEXT = new Map(RULES.map(({ rule, check }) => [normalizeCelRule(rule), check]));

/** The check for a rule, or undefined when kwt does not implement it. */
export function celRule(rule: string): RuleCheck | undefined {
  return RULES_BY_TEXT.get(normalizeCelRule(rule));
}
