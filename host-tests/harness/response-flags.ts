// Envoy's response flags as `response.flags` reports them (StreamInfo::legacyResponseFlags(): bit n
// is CoreResponseFlag n, envoy/stream_info/stream_info.h) and as %RESPONSE_FLAGS% prints them
// (the short names of source/common/stream_info/utility.cc, in bit order, joined by commas).

/** The bits the harness produces or tests name. */
export const ResponseFlag = {
  UpstreamRequestTimeout: 0x4,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  UpstreamConnectionTermination: 0x40,
  DownstreamConnectionTermination: 0x4000,
  DownstreamProtocolError: 0x40000,
  /** NFCF: the missing-config filter stands in for a filter with no accepted configuration. */
  NoFilterConfigFound: 0x200000,
  /** DR: from Envoy 1.30 only (envoyproxy/envoy#30323 reported its absence on 1.28). */
  DownstreamRemoteReset: 0x10000000,
} as const;

/** Short names by bit position, CoreResponseFlag order (LH = bit 0 ... DR = bit 28, UDO = bit 29). */
const SHORT_NAMES = [
  "LH",
  "UH",
  "UT",
  "LR",
  "UR",
  "UF",
  "UC",
  "UO",
  "NR",
  "DI",
  "FI",
  "RL",
  "UAEX",
  "RLSE",
  "DC",
  "URX",
  "SI",
  "IH",
  "DPE",
  "UMSDR",
  "RFCF",
  "NFCF",
  "DT",
  "UPE",
  "NC",
  "OM",
  "DF",
  "DO",
  "DR",
  "UDO",
] as const;

/** %RESPONSE_FLAGS%: "-" without flags, else the short names of the set bits joined by ",". */
export function responseFlagsText(flags: number): string {
  const names = SHORT_NAMES.filter((_, bit) => (Math.floor(flags / 2 ** bit) & 1) === 1);
  return names.length === 0 ? "-" : names.join(",");
}
