import assert from "node:assert/strict";
import { test } from "node:test";
import { findJsonFault, parseJsonText } from "../../runtime/json_text.ts";
import { parseSettings, readSettings } from "../../runtime/settings_file.ts";

const missing = () => Promise.reject(Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" }));

test("readSettings() reads nothing when no file is named and rota.config.json is absent", async () => {
  assert.equal(await readSettings(missing, { path: "rota.config.json", named: false }), undefined);
});

test("readSettings() refuses a named file that does not exist, with ERR_ROTA_USAGE", async () => {
  await assert.rejects(readSettings(missing, { path: "prod.json", named: true }), {
    code: "ERR_ROTA_USAGE",
    message: "Cannot read settings file 'prod.json': no such file",
  });
});

test("readSettings() returns the file's object as it stands", async () => {
  const read = () => Promise.resolve('{ "workers": 4, "maxRequests": 1000 }');
  assert.deepEqual(await readSettings(read, { path: "rota.config.json", named: false }), {
    path: "rota.config.json",
    values: { workers: 4, maxRequests: 1000 },
  });
});

test("parseSettings() names the line and column of malformed JSON on one line", () => {
  const text = '{\n  "workers": 4\n  "maxRequests": 1000\n}\n';
  assert.throws(() => parseSettings(text, "rota.config.json"), {
    code: "ERR_ROTA_USAGE",
    message:
      `Cannot read settings file 'rota.config.json': invalid JSON at line 3, column 3: expected ',' or '}', near "\\"maxRequests\\": 1000"`,
  });
  assert.throws(() => parseSettings("[1, 2]", "rota.config.json"), /must hold a JSON object/);
});

test("findJsonFault() agrees with JSON.parse on what is JSON, and says where it is not", () => {
  const valid = ['{"a":[1,-2.5e3,true,false,null,"x\\\\n\\\\u00e9"]}', " [ ] ", '"s"', "0", '{"a":{"b":{}}}'];
  for (const text of valid) {
    JSON.parse(text);
    assert.equal(findJsonFault(text), undefined, text);
  }
  const cases: Array<[string, number, number, RegExp]> = [
    ["{ oops }", 1, 3, /property name in double quotes/],
    ['{"a": 1,}', 1, 9, /property name/],
    ['{"a" 1}', 1, 6, /':'/],
    ["[1, 2", 1, 6, /',' or '\]'/],
    ['{"a": "line\nbreak"}', 1, 12, /string/],
    ["{\"a\": 'single'}", 1, 7, /a value/],
    ["", 1, 1, /the text ended/],
    ["{} {}", 1, 4, /the end of the text/],
    ['{"a": 01}', 1, 8, /',' or '}'/],
  ];
  for (const [text, line, column, expected] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, text);
    const fault = findJsonFault(text);
    assert.ok(fault, text);
    assert.deepEqual([fault.line, fault.column], [line, column], text);
    assert.match(fault.expected, expected, text);
  }
  assert.throws(() => parseJsonText("{\n\n  nope"), {
    name: "SyntaxError",
    message: /^invalid JSON at line 3, column 3/,
  });
});
