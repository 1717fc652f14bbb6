import {
  encodeSeriesKey,
  encodeStatName,
  isLabelValue,
  sanitizeLabelValue,
  MAX_LABEL_VALUE_LENGTH,
} from "../labels";

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

describe("isLabelValue", () => {
  it("accepts the label-value charset up to 63 characters, and empty", () => {
    expect<bool>(isLabelValue("AZaz09_.:/-")).toBe(true);
    expect<bool>(isLabelValue("")).toBe(true);
    expect<bool>(isLabelValue(repeat("a", MAX_LABEL_VALUE_LENGTH))).toBe(true);
  });

  it("refuses anything that could break tag extraction or the length bound", () => {
    expect<bool>(isLabelValue("a;b")).toBe(false);
    expect<bool>(isLabelValue("a=b")).toBe(false);
    expect<bool>(isLabelValue("a b")).toBe(false);
    expect<bool>(isLabelValue('a"b')).toBe(false);
    expect<bool>(isLabelValue("é")).toBe(false);
    expect<bool>(isLabelValue(repeat("a", MAX_LABEL_VALUE_LENGTH + 1))).toBe(false);
  });
});

describe("sanitizeLabelValue", () => {
  it("keeps a valid value as it is", () => {
    expect<string>(sanitizeLabelValue("hello-00001")).toBe("hello-00001");
  });

  it("replaces every other character with _ and cuts to 63", () => {
    expect<string>(sanitizeLabelValue("a;.;b=.=c")).toBe("a_._b_._c");
    expect<string>(sanitizeLabelValue("x y\n\u00e9")).toBe("x_y__");
    expect<string>(sanitizeLabelValue(repeat("b", 70))).toBe(repeat("b", 63));
    expect<string>(sanitizeLabelValue(repeat(";", 70))).toBe(repeat("_", 63));
  });
});

describe("encodeStatName", () => {
  it("encodes labels in order for Istio's tag extraction", () => {
    expect<string>(encodeStatName(["a", "b"], ["x", "y"], "metric_total")).toBe(
      "a=.=x;.;b=.=y;.;metric_total",
    );
  });

  it("writes an empty value as an empty label", () => {
    expect<string>(encodeStatName(["source_cluster"], [""], "m")).toBe("source_cluster=.=;.;m");
  });

  it("sanitises values so none can inject a label", () => {
    expect<string>(encodeStatName(["a"], ["x;.;evil=.=1"], "m")).toBe("a=.=x_._evil_._1;.;m");
  });

  it("has no labels for a plain metric", () => {
    expect<string>(encodeStatName([], [], "kwt_config_rejected_total")).toBe("kwt_config_rejected_total");
  });
});

describe("encodeSeriesKey", () => {
  it("writes the sanitised values, each ended by ;, then the metric", () => {
    expect<string>(encodeSeriesKey(["a", "b"], ["x", "y"], "metric_total")).toBe("x;y;metric_total");
    expect<string>(encodeSeriesKey(["a"], ["x;y"], "m")).toBe("x_y;m");
    expect<string>(encodeSeriesKey([], [], "kwt_config_rejected_total")).toBe("kwt_config_rejected_total");
  });

  it("differs exactly where the stat names differ", () => {
    const labels = ["a", "b"];
    const cases: string[][] = [
      ["x", "y"],
      ["x;y", ""],
      ["x", "y;"],
      ["", "x;y"],
      ["x_y", ""],
      ["x", "y"],
    ];
    for (let i = 0; i < cases.length; i++) {
      for (let j = 0; j < cases.length; j++) {
        const sameName = encodeStatName(labels, cases[i], "m") == encodeStatName(labels, cases[j], "m");
        const sameKey = encodeSeriesKey(labels, cases[i], "m") == encodeSeriesKey(labels, cases[j], "m");
        expect<bool>(sameKey).toBe(sameName);
      }
    }
  });
});
