import assert from "node:assert/strict";
import { test } from "node:test";
import { isRotaErrorCode } from "../../runtime/errors.ts";

test("isRotaErrorCode() accepts rota's own codes and nothing else a process could send", () => {
  for (const code of ["ERR_ROTA_LISTEN", "ERR_ROTA_APP_IMPORT", "ERR_ROTA_STARTUP_FAILED", "ERR_ROTA_BODY_TOO_LARGE"]) {
    assert.equal(isRotaErrorCode(code), true, code);
  }
  for (const value of ["ERR_ROTA_APP", "EADDRINUSE", "", "err_rota_listen", "toString", "__proto__", 1, null, {}]) {
    assert.equal(isRotaErrorCode(value), false, String(value));
  }
});
