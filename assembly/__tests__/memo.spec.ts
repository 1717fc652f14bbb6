import { LastAnswer } from "../memo";

describe("LastAnswer", () => {
  it("holds nothing before an answer is remembered, even for the initial value's key", () => {
    const memo = new LastAnswer<bool>(false);
    expect<bool>(memo.holds(null)).toBe(false);
    expect<bool>(memo.holds("")).toBe(false);
  });

  it("holds the answer for the same text only, compared by content", () => {
    const memo = new LastAnswer<bool>(false);
    expect<bool>(memo.remember("outbound|80||a", true)).toBe(true);
    expect<bool>(memo.holds("outbound|80||" + "a")).toBe(true);
    expect<bool>(memo.answer).toBe(true);
    expect<bool>(memo.holds("outbound|80||b")).toBe(false);
    expect<bool>(memo.holds(null)).toBe(false);
    expect<string | null>(memo.text).toBe("outbound|80||a");
  });

  it("keeps one text at a time, null among them", () => {
    const memo = new LastAnswer<string | null>(null);
    memo.remember("spiffe://a", "a");
    memo.remember(null, null);
    expect<bool>(memo.holds(null)).toBe(true);
    expect<bool>(memo.holds("spiffe://a")).toBe(false);
    expect(memo.answer).toBeNull();
  });
});
