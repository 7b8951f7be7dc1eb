import { limitsSuite } from "./limits.ts";
import { operationsSuite } from "./operations.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("deno");
limitsSuite("deno");
webSuite("deno");
operationsSuite("deno");
