import assert from "node:assert/strict";
import { test } from "node:test";
import { describeImportFailure, errorLocation, firstError, isSyntaxError } from "../../runtime/import_error.ts";

// The shapes below are what each runtime threw for the same broken file, copied from real runs.
const bun = Object.assign(new Error('Expected ";" but found ")"'), {
  name: "BuildMessage",
  position: { file: "/srv/app.js", line: 3, column: 29, lineText: '    return new Response("x"));' },
});
const deno = new TypeError(
  "SyntaxError: Expected ';', got ')'\n  |\n3 |     return new Response(\"x\"));\n  |                             ~\n" +
    "    at file:///srv/app.js:3:29",
);
const nodeTypeScript = Object.assign(new SyntaxError("Expected ';', got ')'"), {
  stack:
    "/srv/app.ts:3\n  fetch() {\n\nSyntaxError [ERR_INVALID_TYPESCRIPT_SYNTAX]: Expected ';', got ')'\n    at parseTypeScript",
});
const nodeJavaScript = new SyntaxError("Unexpected token ')'");
nodeJavaScript.stack =
  "SyntaxError: Unexpected token ')'\n    at compileSourceTextModule (node:internal/modules/esm/utils:319:16)";

test("errorLocation() finds the file and line in Bun's, Deno's and Node's TypeScript errors", () => {
  assert.equal(errorLocation(bun), "/srv/app.js:3:29");
  assert.equal(errorLocation(deno), "file:///srv/app.js:3:29");
  assert.equal(errorLocation(nodeTypeScript), "/srv/app.ts:3");
  assert.equal(errorLocation(nodeJavaScript), undefined, "Node keeps a JavaScript syntax error's place to itself");
  assert.equal(errorLocation("a string"), undefined);
});

test("describeImportFailure() names a syntax error's file and line in one line", () => {
  assert.equal(describeImportFailure(bun), 'syntax error at /srv/app.js:3:29: Expected ";" but found ")"');
  assert.equal(describeImportFailure(deno), "syntax error at /srv/app.js:3:29: Expected ';', got ')'");
  assert.equal(describeImportFailure(nodeTypeScript), "syntax error at /srv/app.ts:3: Expected ';', got ')'");
  assert.equal(
    describeImportFailure(nodeJavaScript, "file:///srv/my%20app.js:3"),
    "syntax error at /srv/my app.js:3: Unexpected token ')'",
    "a location found elsewhere is used, decoded",
  );
  assert.equal(describeImportFailure(nodeJavaScript), "Unexpected token ')'");
});

test("describeImportFailure() reads the first of Bun's aggregated errors", () => {
  const aggregate = new AggregateError([bun, bun], '2 errors building "/srv/app.js"');
  assert.equal(firstError(aggregate), bun);
  assert.equal(describeImportFailure(aggregate), 'syntax error at /srv/app.js:3:29: Expected ";" but found ")"');
});

test("describeImportFailure() keeps other errors as they are, with a place when the runtime gives one", () => {
  assert.equal(describeImportFailure(new Error("cannot read /etc/app.toml")), "cannot read /etc/app.toml");
  const missing = new TypeError('Module not found "file:///srv/db.js".\n    at file:///srv/app.js:1:8');
  assert.equal(isSyntaxError(missing), false);
  assert.equal(describeImportFailure(missing), 'Module not found "file:///srv/db.js". (at /srv/app.js:1:8)');
});
