// The last answer of a pure function of one string. A proxy's peers, upstream identities and
// route clusters repeat from one request to the next, so judging the same text again (splitting
// it, allocating its parts) is work a string comparison saves. Pure: the caller computes answers.

/** One remembered (text, answer) pair; `null` text is a key like any other. */
export class LastAnswer<T> {
  private known: bool = false;
  private key: string | null = null;

  constructor(public answer: T) {}

  /** The text the answer is for (null also before any). */
  get text(): string | null {
    return this.key;
  }

  /** Whether `answer` is the one for `text`. */
  holds(text: string | null): bool {
    return this.known && this.key == text;
  }

  /** Remembers `answer` for `text`, and returns it. */
  remember(text: string | null, answer: T): T {
    this.known = true;
    this.key = text;
    this.answer = answer;
    return answer;
  }
}
