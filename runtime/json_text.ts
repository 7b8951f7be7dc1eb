/**
 * Parsing JSON that a person wrote (a settings file, a configuration file),
 * with an error that says where it went wrong. `JSON.parse` alone does not:
 * Node 20's message gives an offset at best, Bun's gives nothing.
 *
 * @module
 */

/** Where a JSON text stops being JSON, and what was expected there. */
export interface JsonFault {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** What the parser wanted at that point. */
  readonly expected: string;
  /** The line as written, trimmed to a readable length. */
  readonly text: string;
}

/** Thrown inside the scanner only, to unwind to its caller. */
class Stop {
  readonly offset: number;
  readonly expected: string;
  constructor(offset: number, expected: string) {
    this.offset = offset;
    this.expected = expected;
  }
}

/**
 * Find the first place where `text` is not JSON.
 *
 * @param text The text.
 * @returns The fault, or `undefined` when `text` is valid JSON.
 * @example
 * ```ts
 * findJsonFault('{\n  "workers": 4\n  "port": 1\n}'); // { line: 3, column: 3, expected: "',' or '}'", ... }
 * ```
 */
export function findJsonFault(text: string): JsonFault | undefined {
  let at = 0;
  const space = () => {
    while (at < text.length && " \t\n\r".includes(text[at])) at++;
  };
  const expect = (what: string): never => {
    throw new Stop(at, what);
  };
  const literal = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else expect("a value");
  };
  const string = () => {
    at++; // the opening quote
    while (at < text.length && text[at] !== '"') {
      const c = text.charCodeAt(at);
      if (c < 0x20) expect("'\"' closing the string (a string cannot span lines)");
      if (text[at] === "\\") {
        at++;
        if (text[at] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) expect("four hex digits after \\u");
          at += 4;
        } else if (!'"\\/bfnrt'.includes(text[at] ?? "")) expect('an escape such as \\n or \\"');
      }
      at++;
    }
    if (at >= text.length) expect("'\"' closing the string");
    at++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at));
    if (!match) expect("a value");
    at += match![0].length;
  };
  const value = (): void => {
    space();
    const c = text[at];
    if (c === "{") {
      at++;
      space();
      if (text[at] === "}") return void at++;
      for (;;) {
        space();
        if (text[at] !== '"') expect("a property name in double quotes");
        string();
        space();
        if (text[at] !== ":") expect("':' after the property name");
        at++;
        value();
        space();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at] === "}") return void at++;
        expect("',' or '}'");
      }
    }
    if (c === "[") {
      at++;
      space();
      if (text[at] === "]") return void at++;
      for (;;) {
        value();
        space();
        if (text[at] === ",") {
          at++;
          continue;
        }
        if (text[at] === "]") return void at++;
        expect("',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    expect(c === undefined ? "a value (the text ended)" : "a value");
  };
  try {
    value();
    space();
    if (at < text.length) expect("the end of the text");
    return undefined;
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
    return locate(text, error.offset, error.expected);
  }
}

function locate(text: string, offset: number, expected: string): JsonFault {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const start = before.lastIndexOf("\n") + 1;
  const end = text.indexOf("\n", offset);
  const whole = text.slice(start, end === -1 ? text.length : end).replace(/\r$/, "").trim();
  return {
    line,
    column: offset - start + 1,
    expected,
    text: whole.length > 60 ? `${whole.slice(0, 57)}...` : whole,
  };
}

/**
 * Parse JSON, or explain in one line where it is broken.
 *
 * @param text The text.
 * @returns The value.
 * @throws {SyntaxError} `line L, column C: expected X, near "<the line>"`.
 * @example
 * ```ts
 * parseJsonText('{ "workers": 4 }'); // { workers: 4 }
 * ```
 */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const fault = findJsonFault(text);
    if (!fault) throw error;
    throw new SyntaxError(
      `invalid JSON at line ${fault.line}, column ${fault.column}: expected ${fault.expected}, near ${
        JSON.stringify(fault.text)
      }`,
      { cause: error },
    );
  }
}
