import { PrefixedDecimalWriter } from "../decimal";
import {
  hopStampPrefix,
  decodeHopStamp,
  checkHop,
  hopDuration,
  HopCheck,
  HopStamp,
  HopStampReader,
  HopVerdict,
  MAX_HOP_DURATION_MS,
} from "../hop";

const NONE: string[] = [];

/** The stamp a PrefixedDecimalWriter of `prefix` writes for `sentMs`, as text. */
function encodeHopStamp(prefix: string, sentMs: i64): string {
  const writer = new PrefixedDecimalWriter(prefix);
  const length = writer.write(sentMs);
  return String.UTF8.decodeUnsafe(writer.at, length);
}

describe("hop stamp", () => {
  it("encodes version 1 with cluster, region and send time", () => {
    expect<string>(encodeHopStamp(hopStampPrefix("cluster-a", "eu-west1"), 1700000000123)).toBe(
      "1;c=cluster-a;r=eu-west1;t=1700000000123",
    );
  });

  it("writes no stamp without a cluster and region that are label values", () => {
    expect<string>(hopStampPrefix("", "eu-west1")).toBe("");
    expect<string>(hopStampPrefix("a", "")).toBe("");
    expect<string>(hopStampPrefix("a;b", "r")).toBe("");
  });

  it("round-trips", () => {
    const stamp = decodeHopStamp(encodeHopStamp(hopStampPrefix("a", "r1"), 42))!;
    expect<string>(stamp.cluster).toBe("a");
    expect<string>(stamp.region).toBe("r1");
    expect<i64>(stamp.sentMs).toBe(42);
  });

  it("accepts fields in any order and unknown fields of later versions", () => {
    const stamp = decodeHopStamp("2;t=5;x=new;r=r1;c=a")!;
    expect<string>(stamp.cluster).toBe("a");
    expect<i64>(stamp.sentMs).toBe(5);
  });

  it("refuses stamps without usable c, r, t", () => {
    const bad: string[] = [
      "1;r=r1;t=5",
      "1;c=a;t=5",
      "1;c=a;r=r1",
      "1;c=;r=r1;t=5",
      "1;c=a;r=;t=5",
      "1;c=a;r=r1;t=",
      "1;c=a;r=r1;t=-5",
      "1;c=a;r=r1;t=1.5",
      "1;c=a;r=r1;t=12345678901234", // 14 digits
      "1;c=a b;r=r1;t=5",
      "1;c=a;c=b;r=r1;t=5",
      "c=a;r=r1;t=5",
      "",
    ];
    for (let i = 0; i < bad.length; i++) {
      if (decodeHopStamp(unchecked(bad[i])) != null) throw new Error("accepted " + unchecked(bad[i]));
    }
  });
});

/** checkHop of a header value given as text (null: the request has none). */
function checkHopOf(
  value: string | null,
  fromMesh: bool,
  localCluster: string,
  knownClusters: string[],
  knownRegions: string[],
): HopCheck {
  if (value == null) return checkHop(0, 0, fromMesh, localCluster, knownClusters, knownRegions);
  const bytes = String.UTF8.encode(value);
  return checkHop(
    changetype<usize>(bytes),
    <u32>bytes.byteLength,
    fromMesh,
    localCluster,
    knownClusters,
    knownRegions,
  );
}

/** HopStampReader.readAt of `text` as the header scan keeps it. */
function readAtOf(reader: HopStampReader, text: string): HopStamp | null {
  const bytes = String.UTF8.encode(text);
  return reader.readAt(changetype<usize>(bytes), <u32>bytes.byteLength);
}

describe("HopStampReader", () => {
  it("reads from bytes what it reads from text, whether the fields repeat or not", () => {
    const texts = [
      "1;c=west;r=eu-west1;t=100",
      "1;c=west;r=eu-west1;t=250",
      "1;c=west;r=eu-west1;t=25x",
      "1;c=west;r=eu-west1;t=",
      "1;c=west;r=eu-west1;t=5;x=1",
      "1;c=west;r=eu-west1;t=12345678901234",
      "1;c=east;r=eu-west1;t=300",
      "1;c=east;r=eu-west1;t=301",
      "1;c=west;r=eu-west1;t=400",
      "garbage",
      "2;t=7;r=r1;c=a",
    ];
    const fromText = new HopStampReader();
    const fromBytes = new HopStampReader();
    for (let i = 0; i < texts.length; i++) {
      const expected = fromText.read(texts[i]);
      const actual = readAtOf(fromBytes, texts[i]);
      if ((expected == null) != (actual == null)) throw new Error("readAt disagrees on " + texts[i]);
      if (expected != null && actual != null) {
        expect<string>(actual.cluster).toBe(expected.cluster, texts[i]);
        expect<string>(actual.region).toBe(expected.region, texts[i]);
        expect<i64>(actual.sentMs).toBe(expected.sentMs, texts[i]);
      }
    }
  });

  it("reads a stamp whose text before its time repeats as decodeHopStamp does", () => {
    const reader = new HopStampReader();
    const first = reader.read("1;c=west;r=eu-west1;t=100")!;
    expect<string>(first.cluster).toBe("west");
    first.cluster = "folded";
    const again = reader.read("1;c=west;r=eu-west1;t=250")!;
    expect<string>(again.cluster).toBe("west");
    expect<string>(again.region).toBe("eu-west1");
    expect<i64>(again.sentMs).toBe(250);
  });

  it("refuses what decodeHopStamp refuses, after a valid stamp with the same start", () => {
    const reader = new HopStampReader();
    reader.read("1;c=west;r=eu-west1;t=100");
    const bad: string[] = [
      "1;c=west;r=eu-west1;t=",
      "1;c=west;r=eu-west1;t=1.5",
      "1;c=west;r=eu-west1;t=12345678901234",
      "1;c=west;r=eu-west1;t=5;",
      "1;c=west;r=eu-west1;t=5 ",
      "1;c=west;r=eu-west1;x=5",
      "1;c=west;r=eu-west1;t=" + "1".repeat(600),
    ];
    for (let i = 0; i < bad.length; i++) {
      const text = unchecked(bad[i]);
      if (decodeHopStamp(text) != null) throw new Error("decodeHopStamp accepted " + text);
      if (reader.read(text) != null) throw new Error("the reader accepted " + text);
    }
  });

  it("reads the stamps of many peers in turn, past the starts it keeps, as decodeHopStamp does", () => {
    // 20 peers in rotation (each kept start read by its time), then 150 distinct peers once
    // each and the first 20 again: the reader forgets what it kept and decodes again.
    const reader = new HopStampReader();
    const peers = new Array<string>();
    for (let p = 0; p < 150; p++)
      peers.push("1;c=cluster-" + p.toString() + ";r=region-" + (p % 7).toString());
    const order = new Array<i32>();
    for (let round = 0; round < 5; round++) for (let p = 0; p < 20; p++) order.push(p);
    for (let p = 0; p < 150; p++) order.push(p);
    for (let p = 0; p < 20; p++) order.push(p);
    for (let i = 0; i < order.length; i++) {
      const text = peers[order[i]] + ";t=" + (1000 + i).toString();
      const expected = decodeHopStamp(text)!;
      const fromBytes = readAtOf(reader, text);
      const fromText = reader.read(text);
      if (fromBytes == null || fromText == null) throw new Error("refused " + text);
      expect<string>(fromBytes.cluster).toBe(expected.cluster, text);
      expect<string>(fromBytes.region).toBe(expected.region, text);
      expect<i64>(fromBytes.sentMs).toBe(expected.sentMs, text);
      expect<string>(fromText.cluster).toBe(expected.cluster, text);
      expect<i64>(fromText.sentMs).toBe(expected.sentMs, text);
    }
  });

  it("decodes in full a stamp whose start differs, or whose time is not last", () => {
    const reader = new HopStampReader();
    reader.read("1;c=west;r=eu-west1;t=100");
    expect<string>(reader.read("1;c=east;r=eu-west1;t=100")!.cluster).toBe("east");
    expect(reader.read("1;c=west;c=west;t=100")).toBeNull();
    const reordered = reader.read("2;t=7;r=r1;c=a")!;
    expect<string>(reordered.cluster).toBe("a");
    expect<i64>(reordered.sentMs).toBe(7);
  });
});

describe("checkHop", () => {
  const stampB = "1;c=cluster-b;r=us-east1;t=1000";

  it("reports an absent stamp", () => {
    expect<HopVerdict>(checkHopOf(null, true, "cluster-a", NONE, NONE).verdict).toBe(HopVerdict.Absent);
    expect<HopVerdict>(checkHopOf(null, false, "cluster-a", NONE, NONE).verdict).toBe(HopVerdict.Absent);
  });

  it("finds a cross-cluster hop over mTLS", () => {
    const check = checkHopOf(stampB, true, "cluster-a", NONE, NONE);
    expect<HopVerdict>(check.verdict).toBe(HopVerdict.CrossCluster);
    expect<string>(check.stamp!.cluster).toBe("cluster-b");
    expect<string>(check.stamp!.region).toBe("us-east1");
    expect<string>(check.reason).toBe("");
  });

  it("does not count a hop inside the cluster", () => {
    expect<HopVerdict>(checkHopOf("1;c=cluster-a;r=x;t=1", true, "cluster-a", NONE, NONE).verdict).toBe(
      HopVerdict.SameCluster,
    );
  });

  it("refuses stamps without mTLS, before reading them", () => {
    const check = checkHopOf("garbage", false, "cluster-a", NONE, NONE);
    expect<HopVerdict>(check.verdict).toBe(HopVerdict.Rejected);
    expect<string>(check.reason).toBe("untrusted");
    expect<string>(checkHopOf(stampB, false, "cluster-a", NONE, NONE).reason).toBe("untrusted");
  });

  it("refuses malformed stamps", () => {
    expect<string>(checkHopOf("1;c=x", true, "cluster-a", NONE, NONE).reason).toBe("malformed");
    expect<string>(checkHopOf("", true, "cluster-a", NONE, NONE).reason).toBe("malformed");
  });

  it("refuses clusters and regions outside the known lists", () => {
    expect<string>(checkHopOf(stampB, true, "cluster-a", ["cluster-c"], NONE).reason).toBe("unknown_cluster");
    expect<string>(checkHopOf(stampB, true, "cluster-a", ["cluster-b"], ["eu-west1"]).reason).toBe(
      "unknown_region",
    );
    expect<HopVerdict>(checkHopOf(stampB, true, "cluster-a", ["cluster-b"], ["us-east1"]).verdict).toBe(
      HopVerdict.CrossCluster,
    );
    // The own cluster needs no entry in the list.
    expect<HopVerdict>(
      checkHopOf("1;c=cluster-a;r=x;t=1", true, "cluster-a", ["cluster-b"], ["y"]).verdict,
    ).toBe(HopVerdict.SameCluster);
  });
});

describe("checkHop into a reused check", () => {
  it("gives each stamp the verdict a fresh check gives", () => {
    const texts = ["1;c=cluster-a;r=x;t=1", "1;c=west;r=eu;t=2", "1;c=x", "1;c=west;r=eu;t=3"];
    const known = ["west"];
    const reused = new HopCheck(HopVerdict.Absent, null, "");
    const reader = new HopStampReader();
    for (let i = 0; i < texts.length; i++) {
      const fresh = checkHopOf(texts[i], true, "cluster-a", known, NONE);
      const bytes = String.UTF8.encode(texts[i]);
      const at = changetype<usize>(bytes);
      const length = <u32>bytes.byteLength;
      const check = checkHop(at, length, true, "cluster-a", known, NONE, reader, reused);
      expect<bool>(check === reused).toBe(true);
      expect<HopVerdict>(check.verdict).toBe(fresh.verdict, texts[i]);
      expect<string>(check.reason).toBe(fresh.reason, texts[i]);
      expect<bool>(check.stamp == null).toBe(fresh.stamp == null, texts[i]);
      if (check.stamp != null) expect<i64>(check.stamp!.sentMs).toBe(fresh.stamp!.sentMs, texts[i]);
    }
    expect<HopVerdict>(checkHop(0, 0, true, "cluster-a", known, NONE, reader, reused).verdict).toBe(
      HopVerdict.Absent,
    );
  });
});

describe("hopDuration", () => {
  it("is now minus the send time", () => {
    const d = hopDuration(1700000000250, 1700000000000);
    expect<i64>(d.milliseconds).toBe(250);
    expect<bool>(d.skewed).toBe(false);
    expect<i64>(hopDuration(5, 5).milliseconds).toBe(0);
    expect<bool>(hopDuration(5, 5).skewed).toBe(false);
  });

  it("clamps a send time in the future to 0 and flags skew", () => {
    const d = hopDuration(1000, 1500);
    expect<i64>(d.milliseconds).toBe(0);
    expect<bool>(d.skewed).toBe(true);
  });

  it("clamps an implausibly old send time and flags skew", () => {
    const d = hopDuration(1700000000000, 0);
    expect<i64>(d.milliseconds).toBe(MAX_HOP_DURATION_MS);
    expect<bool>(d.skewed).toBe(true);
    expect<bool>(hopDuration(MAX_HOP_DURATION_MS, 0).skewed).toBe(false);
  });
});
