import { OTHER_LABEL_VALUE, SourceLabelBound } from "../sourcelabels";

describe("SourceLabelBound", () => {
  it("keeps the first `limit` distinct values and folds every later one", () => {
    const bound = new SourceLabelBound(2);
    expect<string>(bound.admit("east")).toBe("east");
    expect<string>(bound.admit("west")).toBe("west");
    expect<string>(bound.admit("forged-1")).toBe(OTHER_LABEL_VALUE);
    expect<string>(bound.admit("east")).toBe("east");
    expect<string>(bound.admit("forged-2")).toBe(OTHER_LABEL_VALUE);
  });

  it("never admits the reserved value as a value of its own", () => {
    const bound = new SourceLabelBound(4);
    expect<string>(bound.admit(OTHER_LABEL_VALUE)).toBe(OTHER_LABEL_VALUE);
    expect<string>(bound.admit("a")).toBe("a");
    expect<string>(bound.admit("b")).toBe("b");
    expect<string>(bound.admit("c")).toBe("c");
    expect<string>(bound.admit("d")).toBe("d");
    expect<string>(bound.admit("e")).toBe(OTHER_LABEL_VALUE);
  });

  it("admits more after the limit is raised, and keeps what it admitted when lowered", () => {
    const bound = new SourceLabelBound(1);
    expect<string>(bound.admit("a")).toBe("a");
    expect<string>(bound.admit("b")).toBe(OTHER_LABEL_VALUE);
    bound.limit = 2;
    expect<string>(bound.admit("b")).toBe("b");
    bound.limit = 1;
    expect<string>(bound.admit("a")).toBe("a");
    expect<string>(bound.admit("c")).toBe(OTHER_LABEL_VALUE);
  });
});
