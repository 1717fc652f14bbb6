import { PodStamp, decodePodStamp, encodePodStamp } from "../podstamp";
import { formatEntryMillis, parseEntryMillis } from "../entrystamp";

describe("pod report", () => {
  it("encodes a warm report with an empty wait", () => {
    const text = encodePodStamp(new PodStamp(false, -1, "c1", "eu", "ns", "svc", "cfg", "svc-00001"));
    expect<string | null>(text).toBe("1;cs=0;w=;c=c1;r=eu;n=ns;s=svc;cf=cfg;v=svc-00001");
  });

  it("round-trips a cold report", () => {
    const text = encodePodStamp(new PodStamp(true, 2350, "c1", "eu", "ns", "svc", "cfg", "svc-00001"))!;
    expect<string>(text).toBe("1;cs=1;w=2350;c=c1;r=eu;n=ns;s=svc;cf=cfg;v=svc-00001");
    const report = decodePodStamp(text)!;
    expect<bool>(report.coldStart).toBe(true);
    expect<i64>(report.waitMs).toBe(2350);
    expect<string>(report.cluster).toBe("c1");
    expect<string>(report.region).toBe("eu");
    expect<string>(report.namespace).toBe("ns");
    expect<string>(report.service).toBe("svc");
    expect<string>(report.configuration).toBe("cfg");
    expect<string>(report.revision).toBe("svc-00001");
  });

  it("reads an untimed cold start and empty labels", () => {
    const report = decodePodStamp("1;cs=1;w=;c=;r=;n=;s=;v=")!;
    expect<bool>(report.coldStart).toBe(true);
    expect<i64>(report.waitMs).toBe(-1);
    expect<string>(report.revision).toBe("");
    expect<string>(report.configuration).toBe("");
  });

  it("refuses stamps that miss fields or carry bad values", () => {
    expect(decodePodStamp(null)).toBeNull();
    expect(decodePodStamp("")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a;r=b;n=c;s=d")).toBeNull(); // no v
    expect(decodePodStamp("1;cs=2;w=;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=1;w=x1;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=1;w=1234567890123;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a b;r=b;n=c;s=d;v=e")).toBeNull();
  });

  it("refuses to write a value that is not a label value", () => {
    expect<string | null>(encodePodStamp(new PodStamp(false, -1, "a;b", "", "", "", "", ""))).toBeNull();
  });
});

describe("entry stamp", () => {
  it("parses decimal milliseconds", () => {
    expect<i64>(parseEntryMillis("1700000000123")).toBe(1700000000123);
    expect<i64>(parseEntryMillis("0")).toBe(0);
    expect<string>(formatEntryMillis(1700000000123)).toBe("1700000000123");
  });

  it("refuses anything else", () => {
    expect<i64>(parseEntryMillis(null)).toBe(-1);
    expect<i64>(parseEntryMillis("")).toBe(-1);
    expect<i64>(parseEntryMillis("-5")).toBe(-1);
    expect<i64>(parseEntryMillis("12a")).toBe(-1);
    expect<i64>(parseEntryMillis(" 12")).toBe(-1);
    expect<i64>(parseEntryMillis("1234567890123456")).toBe(-1);
  });
});
